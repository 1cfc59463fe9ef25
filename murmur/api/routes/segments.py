"""`/segments`: JSON criteria or a dbt model; membership lives in ClickHouse.

The criteria language is documented in `murmur.api.routes.segment_models` (and the README).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

import sqlalchemy as sa
from clickhouse_connect.driver.exceptions import ClickHouseError, OperationalError
from fastapi import APIRouter, HTTPException, Query, Request

from murmur.analytics.segments import members_at
from murmur.api import crud
from murmur.api.deps import Editor, Engine, Viewer, clickhouse_unavailable, get_clickhouse
from murmur.api.errors import conflict, field_error
from murmur.api.routes import segment_models as models
from murmur.api.types import After, IdPath, Limit, Offset, Timestamp
from murmur.db.tables import campaigns, contacts, segments
from murmur.domain.audit import audit
from murmur.domain.segment_criteria import CriteriaError, validate_criteria
from murmur.domain.segment_graph import check_references, member_paths
from murmur.domain.segment_refresh import SegmentRefreshError, preview, shown_sql

router = APIRouter(prefix="/segments", tags=["segments"])
DOC = models.__doc__


def _criteria_422(exc: CriteriaError) -> HTTPException:
    where = "definition" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in exc.path)
    error = {"loc": ["body", "definition", *exc.path], "msg": f"{where}: {exc.msg}"}
    return HTTPException(422, [{**error, "type": "value_error"}])


def _check(
    conn: sa.Connection,
    account_id: uuid.UUID,
    segment_id: int | None,
    values: dict[str, Any],
    definition_written: bool = True,
) -> None:
    if values.get("name") is None:
        raise field_error("name", "must not be null")
    if values.get("kind") is None:
        raise field_error("kind", "must not be null")
    if values["kind"] == "criteria" and values.get("definition") is None:
        raise field_error("definition", "a criteria segment needs a definition object")
    if values["kind"] == "dbt" and not values.get("dbt_model"):
        raise field_error("dbt_model", "a dbt segment needs the name of its dbt model")
    if values.get("status") is None and "status" in values:
        raise field_error("status", "must not be null")
    if definition_written and values.get("definition") is not None:
        try:
            validate_criteria(values["definition"])
            if values["kind"] == "criteria":
                check_references(conn, account_id, segment_id, values["definition"])
        except CriteriaError as exc:
            raise _criteria_422(exc) from None
    if values["kind"] == "dbt":
        taken = conn.execute(
            sa.select(segments.c.segment_id).where(
                segments.c.account_id == account_id,
                segments.c.kind == "dbt",
                segments.c.dbt_model == values["dbt_model"],
                segments.c.segment_id != (segment_id or 0),
            )
        ).first()
        if taken is not None:
            raise field_error(
                "dbt_model", f"segment {taken[0]} already uses dbt model {values['dbt_model']}", 409
            )


@router.post("", status_code=201, response_model=models.SegmentOut, description=DOC)
def create_segment(body: models.SegmentIn, principal: Editor, engine: Engine) -> dict[str, Any]:
    values = body.model_dump()
    with engine.begin() as conn:
        _check(conn, principal.account_id, None, values)
        row = crud.insert_one(conn, segments, principal.account_id, values)
        audit(
            conn,
            principal.account_id,
            principal.actor,
            "segment.create",
            "segment",
            row["segment_id"],
        )
        return dict(row)


@router.get("", response_model=models.SegmentPage)
def list_segments(
    principal: Viewer,
    engine: Engine,
    kind: models.Kind | None = None,
    status: models.Status | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
    after: After = None,
) -> dict[str, Any]:
    where = crud.equal_filters([(segments.c.kind, kind), (segments.c.status, status)])
    with engine.connect() as conn:
        return crud.page(
            conn,
            segments,
            principal.account_id,
            where=where,
            limit=limit,
            offset=offset,
            after=after,
        )


@router.post("/preview", response_model=models.PreviewOut, description=DOC)
def preview_segment(
    body: models.PreviewIn, principal: Viewer, engine: Engine, request: Request
) -> dict[str, Any]:
    """Evaluate an unsaved criteria definition now: its size and its lowest contact ids."""
    with engine.connect() as conn:
        try:
            validate_criteria(body.definition)
            check_references(conn, principal.account_id, None, body.definition)
        except CriteriaError as exc:
            raise _criteria_422(exc) from None
    ch = get_clickhouse(request)
    try:
        result = preview(ch, principal.account_id, body.definition, _now(), body.sample)
    except SegmentRefreshError as exc:
        raise field_error("definition", str(exc)) from None
    except OperationalError as exc:
        raise clickhouse_unavailable(exc) from None
    except ClickHouseError as exc:
        raise _analytics_missing(exc) from None
    with engine.connect() as conn:
        sample = _with_emails(conn, principal.account_id, result.sample)
    return {"size": result.size, "sample": sample}


@router.get("/{segment_id}", response_model=models.SegmentOut)
def get_segment(segment_id: IdPath, principal: Viewer, engine: Engine) -> dict[str, Any]:
    """The segment, with its size and time at the last membership refresh."""
    with engine.connect() as conn:
        return crud.get_one(conn, segments, principal.account_id, segment_id, "segment")


@router.get("/{segment_id}/members", response_model=models.MemberPage)
def list_members(
    segment_id: IdPath,
    principal: Viewer,
    engine: Engine,
    request: Request,
    at: Annotated[Timestamp | None, Query(description="ISO 8601 instant (default: now)")] = None,
    limit: Limit = 100,
    after: After = None,
) -> dict[str, Any]:
    """Members in contact id order, now (the last refresh) or at a past instant `at`."""
    with engine.connect() as conn:  # tenancy first: another account's segment is a 404
        crud.get_one(conn, segments, principal.account_id, segment_id, "segment")
    ch = get_clickhouse(request)
    try:
        ids = members_at(ch, principal.account_id, segment_id, at, after, limit)
    except OperationalError as exc:
        raise clickhouse_unavailable(exc) from None
    except ClickHouseError as exc:
        if "UNKNOWN_TABLE" not in str(exc):
            raise
        ids = []  # no segment was ever computed
    with engine.connect() as conn:
        items = _with_emails(conn, principal.account_id, ids)
    next_after = ids[-1] if len(ids) == limit else None
    return {
        "segment_id": segment_id,
        "at": at,
        "items": items,
        "limit": limit,
        "next_after": next_after,
    }


@router.get("/{segment_id}/sql", response_model=models.SegmentSql)
def get_segment_sql(segment_id: IdPath, principal: Viewer, engine: Engine) -> dict[str, Any]:
    """The ClickHouse SQL a criteria segment compiles to (now), or a dbt segment's model."""
    with engine.connect() as conn:
        row = crud.get_one(conn, segments, principal.account_id, segment_id, "segment")
    try:
        return shown_sql(row, _now())
    except SegmentRefreshError as exc:
        raise conflict(str(exc)) from None


@router.patch("/{segment_id}", response_model=models.SegmentOut, description=DOC)
def update_segment(
    segment_id: IdPath, body: models.SegmentPatch, principal: Editor, engine: Engine
) -> dict[str, Any]:
    values = body.model_dump(exclude_unset=True)
    with engine.begin() as conn:
        current = crud.get_one(conn, segments, principal.account_id, segment_id, "segment")
        written = "definition" in values or "kind" in values
        _check(conn, principal.account_id, segment_id, {**current, **values}, written)
        if not values:
            return current
        row = crud.update_one(conn, segments, principal.account_id, segment_id, values, "segment")
        audit(
            conn,
            principal.account_id,
            principal.actor,
            "segment.update",
            "segment",
            segment_id,
            {"fields": sorted(values)},
        )
        return row


@router.delete("/{segment_id}", status_code=204)
def delete_segment(segment_id: IdPath, principal: Editor, engine: Engine) -> None:
    """Delete a segment no campaign and no other segment uses (409 otherwise)."""
    with engine.begin() as conn:
        crud.get_one(conn, segments, principal.account_id, segment_id, "segment", for_update=True)
        used = conn.execute(
            sa.select(campaigns.c.campaign_id).where(
                campaigns.c.account_id == principal.account_id,
                campaigns.c.segment_id == segment_id,
            )
        ).first()
        if used is not None:
            raise conflict(f"segment {segment_id} is used by campaign {used[0]}")
        user = _referenced_by(conn, principal.account_id, segment_id)
        if user is not None:
            raise conflict(f"segment {segment_id} is used by segment {user} (member_of)")
        crud.delete_one(conn, segments, principal.account_id, segment_id, "segment")
        audit(conn, principal.account_id, principal.actor, "segment.delete", "segment", segment_id)


def _referenced_by(conn: sa.Connection, account_id: uuid.UUID, segment_id: int) -> int | None:
    rows = conn.execute(
        sa.select(segments.c.segment_id, segments.c.definition).where(
            segments.c.account_id == account_id,
            segments.c.kind == "criteria",
            segments.c.segment_id != segment_id,
        )
    ).all()
    for sid, definition in rows:
        try:
            if any(ref == segment_id for _, ref in member_paths(definition)):
                return int(sid)
        except (TypeError, ValueError, AttributeError, StopIteration):
            continue  # a stored definition from before validation references nothing
    return None


def _with_emails(
    conn: sa.Connection, account_id: uuid.UUID, ids: list[int]
) -> list[dict[str, Any]]:
    if not ids:
        return []
    rows = conn.execute(
        sa.select(contacts.c.contact_id, contacts.c.email).where(
            contacts.c.account_id == account_id, contacts.c.contact_id.in_(ids)
        )
    ).all()
    emails: dict[int, str] = {int(r[0]): str(r[1]) for r in rows}
    return [{"contact_id": cid, "email": emails.get(cid)} for cid in ids]


def _analytics_missing(exc: ClickHouseError) -> HTTPException:
    text = str(exc)
    if "UNKNOWN_TABLE" in text:
        return HTTPException(
            409,
            "the analytics tables a segment reads are not built yet: run the replication and"
            " the dbt models (`murmur pipelines materialize`)",
        )
    if "TIMEOUT_EXCEEDED" in text or "MEMORY_LIMIT_EXCEEDED" in text:
        return HTTPException(503, "the preview took too long or too much memory: try again later")
    raise exc


def _now() -> datetime:
    return datetime.now(UTC)
