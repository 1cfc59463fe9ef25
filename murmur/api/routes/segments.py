"""`/segments`: JSON criteria or a dbt model name; membership is computed downstream.

A `criteria` segment's `definition` is a group of conditions and nested groups:

    {"all": [ITEM, ...]}   every item must hold (an empty list matches every contact)
    {"any": [ITEM, ...]}   at least one item must hold (an empty list matches no contact)
    ITEM = {"field": FIELD, "op": OP, "value": VALUE} or a nested group

- `field`: a contact column (`email`, `first_name`, `last_name`, `status`, `consent_source`,
  `consent_at`, `consent_ip`, `created_at`, `updated_at`) or `custom_fields.<key>`.
- `op` and its `value`: `eq`, `neq` (a string, number or boolean); `in`, `not_in` (a list of
  1 to 1000 of those); `contains` (a non-empty string: substring match); `gt`, `gte`, `lt`,
  `lte` (a number, or a string such as an ISO 8601 date); `exists` (`true` or `false`, default
  `true`: the field is set and not null).
- No other keys; groups nest at most 10 deep, 500 items in all.

Example: `{"all": [{"field": "custom_fields.plan", "op": "eq", "value": "pro"},
{"any": [{"field": "status", "op": "eq", "value": "subscribed"}]}]}`. A definition that breaks
the schema is refused with 422 whose `loc` leads to the bad element, e.g.
`["body", "definition", "all", 0, "op"]`. A definition is checked whenever it is written (on
create, or a PATCH of `definition` or `kind`).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

import sqlalchemy as sa
from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, ConfigDict, StringConstraints

from murmur.api import crud
from murmur.api.deps import Editor, Engine, Viewer
from murmur.api.errors import conflict, field_error
from murmur.api.types import After, IdPath, JsonObject, Limit, Name, Offset
from murmur.db.tables import campaigns, segments
from murmur.domain.audit import audit
from murmur.domain.segment_criteria import CriteriaError, validate_criteria

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


def _check_definition(definition: Any) -> None:
    """422 naming the path of the first element that breaks the criteria schema."""
    try:
        validate_criteria(definition)
    except CriteriaError as exc:
        where = "definition" + "".join(
            f"[{p}]" if isinstance(p, int) else f".{p}" for p in exc.path
        )
        error = {"loc": ["body", "definition", *exc.path], "msg": f"{where}: {exc.msg}"}
        raise HTTPException(422, [{**error, "type": "value_error"}]) from None


def _check(values: dict[str, Any], definition_written: bool = True) -> None:
    if values.get("name") is None:
        raise field_error("name", "must not be null")
    if values.get("kind") is None:
        raise field_error("kind", "must not be null")
    if values["kind"] == "criteria" and values.get("definition") is None:
        raise field_error("definition", "a criteria segment needs a definition object")
    if values["kind"] == "dbt" and not values.get("dbt_model"):
        raise field_error("dbt_model", "a dbt segment needs the name of its dbt model")
    if definition_written and values.get("definition") is not None:
        _check_definition(values["definition"])


@router.post("", status_code=201, response_model=SegmentOut, description=__doc__)
def create_segment(body: SegmentIn, principal: Editor, engine: Engine) -> dict[str, Any]:
    values = body.model_dump()
    _check(values)
    with engine.begin() as conn:
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


@router.get("", response_model=SegmentPage)
def list_segments(
    principal: Viewer,
    engine: Engine,
    kind: Kind | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
    after: After = None,
) -> dict[str, Any]:
    where = crud.equal_filters([(segments.c.kind, kind)])
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


@router.patch("/{segment_id}", response_model=SegmentOut, description=__doc__)
def update_segment(
    segment_id: IdPath, body: SegmentPatch, principal: Editor, engine: Engine
) -> dict[str, Any]:
    values = body.model_dump(exclude_unset=True)
    with engine.begin() as conn:
        current = crud.get_one(conn, segments, principal.account_id, segment_id, "segment")
        _check({**current, **values}, "definition" in values or "kind" in values)
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
            sa.select(campaigns.c.campaign_id).where(
                campaigns.c.account_id == principal.account_id,
                campaigns.c.segment_id == segment_id,
            )
        ).first()
        if used is not None:
            raise conflict(f"segment {segment_id} is used by campaign {used[0]}")
        crud.delete_one(conn, segments, principal.account_id, segment_id, "segment")
        audit(conn, principal.account_id, principal.actor, "segment.delete", "segment", segment_id)
