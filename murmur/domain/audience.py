"""A criteria segment evaluated live in Postgres: the definition compiled to a where-clause.

The sender takes its audience from here when it has no ClickHouse client (contact conditions
only: event, engagement and membership conditions exist in ClickHouse alone). Fields and
operators are whitelisted by `murmur.domain.segment_criteria` (the definition is validated again
before compiling) and every value is a bound parameter, so a definition cannot inject SQL.

Semantics: `neq` and `not_in` also match contacts where the field is missing; `contains` is a
case-insensitive substring test; `gt`/`gte`/`lt`/`lte` compare numbers with numbers and strings
with strings (a custom field of another JSON type never matches); a timestamp field compares
with an ISO 8601 value.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

from murmur.db.tables import contacts, segments
from murmur.domain.segment_criteria import (
    CUSTOM_PREFIX,
    CriteriaError,
    is_group,
    parse_instant,
    validate_criteria,
)

_TIMESTAMPS = frozenset({"consent_at", "created_at", "updated_at"})
_COMPARE = {"gt": "__gt__", "gte": "__ge__", "lt": "__lt__", "lte": "__le__"}


class AudienceError(ValueError):
    """The segment cannot be evaluated live (missing, not a criteria segment, bad value)."""


def compile_criteria(definition: Any) -> sa.ColumnElement[bool]:
    """The where-clause over `contacts` that a criteria definition means."""
    try:
        validate_criteria(definition)
    except CriteriaError as exc:
        where = "/".join(str(p) for p in exc.path) or "definition"
        raise AudienceError(f"invalid criteria at {where}: {exc.msg}") from None
    return _group(definition)


def _group(node: dict[str, Any]) -> sa.ColumnElement[bool]:
    key, items = next(iter(node.items()))
    parts = [_item(item) for item in items]
    if key == "all":
        return sa.and_(sa.true(), *parts)
    return sa.or_(sa.false(), *parts)


def _item(node: dict[str, Any]) -> sa.ColumnElement[bool]:
    if is_group(node):
        return _group(node)
    if "not" in node and "field" not in node:
        return sa.not_(_item(node["not"]))
    if "field" not in node:
        raise AudienceError(
            "event, engagement and membership conditions are evaluated in ClickHouse only"
        )
    # true or false, never unknown: `not` then selects exactly the complement
    return sa.func.coalesce(_condition(node), sa.false())


def _condition(node: dict[str, Any]) -> sa.ColumnElement[bool]:
    field: str = node["field"]
    op: str = node["op"]
    if field.startswith(CUSTOM_PREFIX):
        return _custom(field[len(CUSTOM_PREFIX) :], op, node.get("value", True))
    return _column(field, op, node.get("value", True))


def _column(field: str, op: str, value: Any) -> sa.ColumnElement[bool]:
    col: sa.ColumnElement[Any] = contacts.c[field]
    if field == "consent_ip":
        col = sa.func.host(col)
    if op == "exists":
        return col.is_not(None) if value else col.is_(None)
    if op == "contains":
        return sa.func.strpos(sa.func.lower(sa.cast(col, sa.Text)), str(value).lower()) > 0
    convert = _timestamp if field in _TIMESTAMPS else str
    if op in ("in", "not_in"):
        values = [convert(v) for v in value]
        if op == "in":
            return col.in_(values)
        return sa.or_(col.is_(None), col.not_in(values))
    bound = convert(value)
    if op == "eq":
        return col == bound
    if op == "neq":
        return col.is_distinct_from(bound)
    result: sa.ColumnElement[bool] = getattr(col, _COMPARE[op])(bound)
    return result


def _timestamp(value: Any) -> datetime:
    """The instant (UTC when no offset is given, as in ClickHouse)."""
    parsed = parse_instant(value)
    if parsed is None:
        raise AudienceError(f"expected an ISO 8601 date or time, got {value!r}")
    return parsed


def _custom(key: str, op: str, value: Any) -> sa.ColumnElement[bool]:
    raw = contacts.c.custom_fields[key]  # jsonb -> key, key bound as a parameter
    kind = sa.func.jsonb_typeof(raw)
    if op == "exists":
        present = sa.and_(raw.is_not(None), kind != "null")
        return present if value else sa.not_(sa.func.coalesce(present, False))
    if op == "contains":
        text = raw.astext
        return sa.and_(kind == "string", sa.func.strpos(sa.func.lower(text), value.lower()) > 0)
    if op in ("eq", "neq", "in", "not_in"):
        values = value if op in ("in", "not_in") else [value]
        literals = [sa.cast(sa.literal(_json(v)), JSONB) for v in values]
        matched = raw.in_(literals)
        if op in ("eq", "in"):
            return matched
        return sa.or_(raw.is_(None), sa.not_(matched))
    if isinstance(value, str):
        typed: sa.ColumnElement[Any] = sa.case((kind == "string", raw.astext))
    else:
        typed = sa.case((kind == "number", sa.cast(raw.astext, sa.Numeric)))
        value = sa.cast(sa.literal(str(value)), sa.Numeric)
    result: sa.ColumnElement[bool] = getattr(typed, _COMPARE[op])(value)
    return result


def _json(value: Any) -> str:
    return json.dumps(value)


def audience_query(account_id: uuid.UUID, definition: Any) -> sa.Select[tuple[int]]:
    """`select contact_id` of the account's contacts matching the definition."""
    return sa.select(contacts.c.contact_id).where(
        contacts.c.account_id == account_id, compile_criteria(definition)
    )


def segment_query(
    conn: sa.Connection, account_id: uuid.UUID, segment_id: int
) -> sa.Select[tuple[int]]:
    """The live audience query of one criteria segment of the account."""
    row = conn.execute(
        sa.select(segments.c.kind, segments.c.definition).where(
            segments.c.account_id == account_id, segments.c.segment_id == segment_id
        )
    ).one_or_none()
    if row is None:
        raise AudienceError(f"segment {segment_id} not found in the account")
    if row.kind != "criteria":
        raise AudienceError(
            f"segment {segment_id} is a {row.kind} segment: only criteria segments are "
            "evaluated live; its members are read from the ClickHouse membership"
        )
    return audience_query(account_id, row.definition)


def audience_contact_ids(conn: sa.Connection, account_id: uuid.UUID, segment_id: int) -> list[int]:
    """The contact ids in the segment right now (before suppression), ascending."""
    query = segment_query(conn, account_id, segment_id).order_by(contacts.c.contact_id)
    return list(conn.execute(query).scalars())
