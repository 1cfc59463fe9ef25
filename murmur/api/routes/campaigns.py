"""`/campaigns`: CRUD while draft, `/send` (validate → scheduled) and `/cancel`."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, Literal

import sqlalchemy as sa
from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, ConfigDict

from murmur.api import crud
from murmur.api.deps import Editor, Engine, Viewer
from murmur.api.errors import conflict, field_error, not_found
from murmur.api.types import MAX_ID, After, Email, IdPath, Limit, Name, Offset, ShortText
from murmur.db.tables import campaigns, segments, templates
from murmur.domain.audit import audit
from murmur.domain.campaigns import (
    DELETABLE,
    EDITABLE,
    IllegalTransition,
    send_problems,
    transition,
)
from murmur.domain.rendering import RenderError, check_syntax

router = APIRouter(prefix="/campaigns", tags=["campaigns"])
Status = Literal["draft", "scheduled", "sending", "sent", "cancelled"]
RefId = int


class CampaignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name
    subject: ShortText
    template_id: int | None = None
    segment_id: int | None = None
    from_name: ShortText | None = None
    from_email: Email | None = None
    reply_to: Email | None = None
    scheduled_at: datetime | None = None


class CampaignPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name | None = None
    subject: ShortText | None = None
    template_id: int | None = None
    segment_id: int | None = None
    from_name: ShortText | None = None
    from_email: Email | None = None
    reply_to: Email | None = None
    scheduled_at: datetime | None = None


class CampaignOut(BaseModel):
    campaign_id: int
    account_id: uuid.UUID
    name: str
    subject: str
    template_id: int | None
    segment_id: int | None
    from_name: str | None
    from_email: str | None
    reply_to: str | None
    scheduled_at: datetime | None
    status: str
    created_at: datetime
    updated_at: datetime


class CampaignPage(crud.Page):
    items: list[CampaignOut]  # type: ignore[assignment]


def _check(conn: sa.Connection, account_id: uuid.UUID, values: dict[str, Any]) -> None:
    for field in ("name", "subject"):
        if field in values and values[field] is None:
            raise field_error(field, "must not be null")
    if values.get("subject"):
        try:
            check_syntax(values["subject"])
        except RenderError as exc:
            raise field_error("subject", f"template syntax error: {exc}") from None
    for field, table, what in (
        ("template_id", templates, "template"),
        ("segment_id", segments, "segment"),
    ):
        ref = values.get(field)
        if ref is None:
            continue
        key = next(iter(table.primary_key.columns))
        found = (
            1 <= ref <= MAX_ID
            and conn.execute(
                sa.select(key).where(table.c.account_id == account_id, key == ref)
            ).first()
        )
        if not found:
            raise field_error(field, f"{what} {ref} not found")
    when = values.get("scheduled_at")
    if when is not None and when.tzinfo is None:
        values["scheduled_at"] = when.replace(tzinfo=UTC)


@router.post("", status_code=201, response_model=CampaignOut)
def create_campaign(body: CampaignIn, principal: Editor, engine: Engine) -> dict[str, Any]:
    """Create a draft campaign; sender fields default to the account's at send time."""
    values = body.model_dump()
    with engine.begin() as conn:
        _check(conn, principal.account_id, values)
        row = crud.insert_one(conn, campaigns, principal.account_id, values)
        audit(
            conn,
            principal.account_id,
            principal.actor,
            "campaign.create",
            "campaign",
            row["campaign_id"],
        )
        return dict(row)


@router.get("", response_model=CampaignPage)
def list_campaigns(
    principal: Viewer,
    engine: Engine,
    status: Status | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
    after: After = None,
) -> dict[str, Any]:
    where = crud.equal_filters([(campaigns.c.status, status)])
    with engine.connect() as conn:
        return crud.page(
            conn,
            campaigns,
            principal.account_id,
            where=where,
            limit=limit,
            offset=offset,
            after=after,
        )


@router.get("/{campaign_id}", response_model=CampaignOut)
def get_campaign(campaign_id: IdPath, principal: Viewer, engine: Engine) -> dict[str, Any]:
    with engine.connect() as conn:
        return crud.get_one(conn, campaigns, principal.account_id, campaign_id, "campaign")


@router.patch("/{campaign_id}", response_model=CampaignOut)
def update_campaign(
    campaign_id: IdPath, body: CampaignPatch, principal: Editor, engine: Engine
) -> dict[str, Any]:
    """Edit a draft campaign (409 in any other status)."""
    values = body.model_dump(exclude_unset=True)
    with engine.begin() as conn:
        current = crud.get_one(
            conn, campaigns, principal.account_id, campaign_id, "campaign", for_update=True
        )
        if current["status"] not in EDITABLE:
            raise conflict(f"campaign is {current['status']}; only draft campaigns can be edited")
        _check(conn, principal.account_id, values)
        if not values:
            return current
        row = crud.update_one(
            conn, campaigns, principal.account_id, campaign_id, values, "campaign"
        )
        audit(
            conn,
            principal.account_id,
            principal.actor,
            "campaign.update",
            "campaign",
            campaign_id,
            {"fields": sorted(values)},
        )
        return row


@router.delete("/{campaign_id}", status_code=204)
def delete_campaign(campaign_id: IdPath, principal: Editor, engine: Engine) -> None:
    """Delete a draft or cancelled campaign (409 otherwise)."""
    with engine.begin() as conn:
        current = crud.get_one(
            conn, campaigns, principal.account_id, campaign_id, "campaign", for_update=True
        )
        if current["status"] not in DELETABLE:
            raise conflict(
                f"campaign is {current['status']}; only draft or cancelled can be deleted"
            )
        crud.delete_one(conn, campaigns, principal.account_id, campaign_id, "campaign")
        audit(
            conn, principal.account_id, principal.actor, "campaign.delete", "campaign", campaign_id
        )


@router.post("/{campaign_id}/send", response_model=CampaignOut)
def send_campaign(campaign_id: IdPath, principal: Editor, engine: Engine) -> dict[str, Any]:
    """Validate the campaign and schedule it (now, unless `scheduled_at` is set).

    Checks: the template renders with a sample contact, the segment exists, a sender name and
    address are set (campaign or account defaults) and the account has a postal address.
    422 lists every problem; 409 if the campaign is not a draft. Dispatch happens later.
    """
    with engine.begin() as conn:
        current = crud.get_one(
            conn, campaigns, principal.account_id, campaign_id, "campaign", for_update=True
        )
        if current["status"] != "draft":
            raise conflict(f"campaign is {current['status']}; only a draft can be sent")
        problems = send_problems(conn, principal.account_id, current)
        if problems:
            raise HTTPException(
                422,
                [{"loc": ["campaign", f], "msg": m, "type": "value_error"} for f, m in problems],
            )
        return _move(
            conn,
            principal.account_id,
            campaign_id,
            "scheduled",
            principal.actor,
            scheduled_at=sa.func.coalesce(campaigns.c.scheduled_at, sa.func.now()),
        )


@router.post("/{campaign_id}/cancel", response_model=CampaignOut)
def cancel_campaign(campaign_id: IdPath, principal: Editor, engine: Engine) -> dict[str, Any]:
    """Cancel a draft, scheduled or sending campaign (409 once sent or cancelled)."""
    with engine.begin() as conn:
        return _move(conn, principal.account_id, campaign_id, "cancelled", principal.actor)


def _move(
    conn: sa.Connection,
    account_id: uuid.UUID,
    campaign_id: int,
    target: str,
    actor: str,
    **values: Any,
) -> dict[str, Any]:
    try:
        row = transition(conn, account_id, campaign_id, target, actor, **values)
    except IllegalTransition as exc:
        raise conflict(str(exc)) from None
    if row is None:
        raise not_found("campaign", campaign_id)
    return row
