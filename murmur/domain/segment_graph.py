"""`member_of` references between segments: they must exist in the account and never loop.

A criteria segment may be defined by membership in another segment (its last refresh). The
reference must name an active segment of the same account, not the segment itself, and the
references may not form a cycle (S → T → S), which would leave no order to refresh them in.
Checked whenever a definition is written; errors carry the path of the `member_of` node.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa

from murmur.db.tables import segments
from murmur.domain.segment_criteria import CriteriaError, PathPart, is_group

MAX_REFERENCED = 1000  # segments visited while looking for a cycle


def member_paths(
    node: Any, path: tuple[PathPart, ...] = ()
) -> Iterator[tuple[tuple[PathPart, ...], int]]:
    """(path of the `member_of` value, segment id) for every reference in a valid definition."""
    if is_group(node):
        key, items = next(iter(node.items()))
        for i, item in enumerate(items):
            yield from member_paths(item, (*path, key, i))
    elif isinstance(node, dict) and "not" in node and "field" not in node:
        yield from member_paths(node["not"], (*path, "not"))
    elif isinstance(node, dict) and "member_of" in node:
        yield (*path, "member_of"), int(node["member_of"])


def _definitions(
    conn: sa.Connection, account_id: uuid.UUID, ids: set[int]
) -> dict[int, tuple[str, str, Any]]:
    rows = conn.execute(
        sa.select(
            segments.c.segment_id, segments.c.kind, segments.c.status, segments.c.definition
        ).where(segments.c.account_id == account_id, segments.c.segment_id.in_(sorted(ids)))
    ).all()
    return {int(r.segment_id): (r.kind, r.status, r.definition) for r in rows}


def check_references(
    conn: sa.Connection, account_id: uuid.UUID, segment_id: int | None, definition: Any
) -> None:
    """Raise CriteriaError unless every `member_of` of `definition` may be referenced.

    `segment_id` is the segment being written (None for a new one, which nothing references
    yet, so it cannot close a cycle).
    """
    refs = list(member_paths(definition))
    if not refs:
        return
    known = _definitions(conn, account_id, {sid for _, sid in refs})
    for path, sid in refs:
        if sid == segment_id:
            raise CriteriaError(path, "a segment cannot be defined by membership in itself")
        if sid not in known:
            raise CriteriaError(path, f"segment {sid} does not exist in this account")
        if known[sid][1] != "active":
            raise CriteriaError(path, f"segment {sid} is retired")
    if segment_id is None:
        return
    for path, sid in refs:
        chain = _reaches(conn, account_id, sid, segment_id)
        if chain:
            loop = " → ".join(str(s) for s in [segment_id, *chain])
            raise CriteriaError(path, f"membership references would loop: {loop}")


def _reaches(
    conn: sa.Connection, account_id: uuid.UUID, start: int, target: int
) -> list[int] | None:
    """The chain of references from `start` to `target` (both included), or None."""
    parents: dict[int, int | None] = {start: None}
    frontier = [start]
    while frontier:
        if len(parents) > MAX_REFERENCED:
            raise CriteriaError(
                (), f"membership references reach more than {MAX_REFERENCED} segments"
            )
        rows = _definitions(conn, account_id, set(frontier))
        nxt: list[int] = []
        for sid in frontier:
            kind, _, definition = rows.get(sid, ("", "", None))
            if kind != "criteria" or not isinstance(definition, dict):
                continue
            for _, ref in _safe_refs(definition):
                if ref == target:
                    chain = [ref, sid]
                    parent = parents[sid]
                    while parent is not None:
                        chain.append(parent)
                        parent = parents[parent]
                    return list(reversed(chain))
                if ref not in parents:
                    parents[ref] = sid
                    nxt.append(ref)
        frontier = nxt
    return None


def _safe_refs(definition: Any) -> list[tuple[tuple[PathPart, ...], int]]:
    """References of a stored definition, which may predate validation (then: none)."""
    try:
        return list(member_paths(definition))
    except (TypeError, ValueError, AttributeError, StopIteration):
        return []


def refresh_order(conn: sa.Connection, account_id: uuid.UUID) -> list[int]:
    """The account's active criteria segments, each after every segment it references."""
    rows = conn.execute(
        sa.select(segments.c.segment_id, segments.c.definition).where(
            segments.c.account_id == account_id,
            segments.c.kind == "criteria",
            segments.c.status == "active",
        )
    ).all()
    deps = {int(r.segment_id): {ref for _, ref in _safe_refs(r.definition)} for r in rows}
    order: list[int] = []
    done: set[int] = set()

    def visit(sid: int, stack: set[int]) -> None:
        if sid in done or sid in stack or sid not in deps:
            return
        stack.add(sid)
        for ref in sorted(deps[sid]):
            visit(ref, stack)
        stack.discard(sid)
        done.add(sid)
        order.append(sid)

    for sid in sorted(deps):
        visit(sid, set())
    return order
