"""`/segments`: JSON criteria or a dbt model name; membership is computed downstream."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

import sqlalchemy as sa
from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, StringConstraints

from murmur.api import crud
from murmur.api.deps import Editor, Engine, Viewer
from murmur.api.errors import conflict, field_error
from murmur.api.types import After, IdPath, JsonObject, Limit, Name, Offset
from murmur.db.tables import campaigns, segments
from murmur.domain.audit import audit

router = APIRouter(prefix="/segments", tags=["segments"])
Kind = Literal["criteria", "dbt"]
DbtModel = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,199}$")]


class SegmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name
    kind: Kind = "criteria"
    definition: JsonObject | None = None
    dbt_model: DbtModel | None = None


class SegmentPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name | None = None
    kind: Kind | None = None
    definition: JsonObject | None = None
    dbt_model: DbtModel | None = None


class SegmentOut(BaseModel):
    segment_id: int
    account_id: uuid.UUID
    name: str
    kind: str
    definition: dict[str, Any] | None
    dbt_model: str | None
    created_at: datetime
    updated_at: datetime


class SegmentPage(crud.Page):
    items: list[SegmentOut]  # type: ignore[assignment]


def _check(values: dict[str, Any]) -> None:
    if values.get("name") is None:
        raise field_error("name", "must not be null")
    if values.get("kind") is None:
        raise field_error("kind", "must not be null")
    if values["kind"] == "criteria" and values.get("definition") is None:
        raise field_error("definition", "a criteria segment needs a definition object")
    if values["kind"] == "dbt" and not values.get("dbt_model"):
        raise field_error("dbt_model", "a dbt segment needs the name of its dbt model")


@router.post("", status_code=201, response_model=SegmentOut)
def create_segment(body: SegmentIn, principal: Editor, engine: Engine) -> dict[str, Any]:
    values = body.model_dump()
    _check(values)
    with engine.begin() as conn:
        row = (
            conn.execute(
                segments.insert()
                .values(account_id=principal.account_id, **values)
                .returning(*segments.c)
            )
            .mappings()
            .one()
        )
        audit(
            conn,
            principal.account_id,
            principal.actor,
            "segment.create",
            "segment",
            row["segment_id"],
        )
        return dict(row)


@router.get("", response_model=SegmentPage)
def list_segments(
    principal: Viewer,
    engine: Engine,
    kind: Kind | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
    after: After = None,
) -> dict[str, Any]:
    where = [segments.c.kind == kind] if kind is not None else []
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


@router.get("/{segment_id}", response_model=SegmentOut)
def get_segment(segment_id: IdPath, principal: Viewer, engine: Engine) -> dict[str, Any]:
    with engine.connect() as conn:
        return crud.get_one(conn, segments, principal.account_id, segment_id, "segment")


@router.patch("/{segment_id}", response_model=SegmentOut)
def update_segment(
    segment_id: IdPath, body: SegmentPatch, principal: Editor, engine: Engine
) -> dict[str, Any]:
    values = body.model_dump(exclude_unset=True)
    with engine.begin() as conn:
        current = crud.get_one(conn, segments, principal.account_id, segment_id, "segment")
        _check({**current, **values})
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
    """Delete a segment no campaign uses (409 otherwise)."""
    with engine.begin() as conn:
        crud.get_one(conn, segments, principal.account_id, segment_id, "segment", for_update=True)
        used = conn.execute(
            sa.select(campaigns.c.campaign_id).where(campaigns.c.segment_id == segment_id)
        ).first()
        if used is not None:
            raise conflict(f"segment {segment_id} is used by campaign {used[0]}")
        crud.delete_one(conn, segments, principal.account_id, segment_id, "segment")
        audit(conn, principal.account_id, principal.actor, "segment.delete", "segment", segment_id)
