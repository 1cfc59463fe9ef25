"""`/campaigns`: CRUD while draft, `/send` (validate → scheduled), `/cancel` and `/analytics`.

`GET /campaigns/{id}` adds the send ledger's counters; `/analytics` reads the dbt marts in
ClickHouse (models in murmur/api/analytics_models.py).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from clickhouse_connect.driver.exceptions import ClickHouseError, OperationalError
from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, ConfigDict

from murmur.api import crud
from murmur.api.analytics_models import CampaignAnalytics, empty_analytics
from murmur.api.deps import Editor, Engine, Viewer, clickhouse_unavailable, get_clickhouse
from murmur.api.errors import conflict, field_error, not_found
from murmur.api.types import (
    After,
    Email,
    IdPath,
    Limit,
    Name,
    Offset,
    RefId,
    RequiredText,
    Timestamp,
)
from murmur.db.tables import campaigns
from murmur.domain import campaigns as domain
from murmur.domain import sending
from murmur.domain.analytics import campaign_analytics
from murmur.domain.campaigns import (
    CampaignChanged,
    CampaignNotReady,
    CampaignStatus,
    IllegalTransition,
    InvalidCampaign,
)
from murmur.domain.errors import DomainError

router = APIRouter(prefix="/campaigns", tags=["campaigns"])


class CampaignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name
    subject: RequiredText
    template_id: RefId | None = None
    segment_id: RefId | None = None
    from_name: RequiredText | None = None
    from_email: Email | None = None
    reply_to: Email | None = None
    scheduled_at: Timestamp | None = None


class CampaignPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name | None = None
    subject: RequiredText | None = None
    template_id: RefId | None = None
    segment_id: RefId | None = None
    from_name: RequiredText | None = None
    from_email: Email | None = None
    reply_to: Email | None = None
    scheduled_at: Timestamp | None = None


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
    status: CampaignStatus
    template_version: int | None
    status_reason: str | None
    created_at: datetime
    updated_at: datetime


class CampaignPage(crud.Page):
    items: list[CampaignOut]  # type: ignore[assignment]


def _invalid(exc: InvalidCampaign) -> DomainError:
    return field_error(exc.field, exc.reason)


@router.post("", status_code=201, response_model=CampaignOut)
def create_campaign(body: CampaignIn, principal: Editor, engine: Engine) -> dict[str, Any]:
    """Create a draft campaign; sender fields default to the account's at send time."""
    try:
        with engine.begin() as conn:
            return domain.create_campaign(
                conn, principal.account_id, body.model_dump(), principal.actor
            )
    except InvalidCampaign as exc:
        raise _invalid(exc) from None


@router.get("", response_model=CampaignPage)
def list_campaigns(
    principal: Viewer,
    engine: Engine,
    status: CampaignStatus | None = None,
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


class SendCounters(BaseModel):
    """The send ledger of the campaign: rows per state; `total` is their sum."""

    queued: int
    sending: int
    sent: int
    failed: int
    skipped: int
    total: int
    possible_duplicates: int


class CampaignDetail(CampaignOut):
    snapshot_at: datetime | None
    counters: SendCounters


@router.get("/{campaign_id}", response_model=CampaignDetail)
def get_campaign(campaign_id: IdPath, principal: Viewer, engine: Engine) -> dict[str, Any]:
    """The campaign with its send counters and the audience snapshot time (`snapshot_at`).

    Counters are all 0 until the audience is frozen into the ledger; `possible_duplicates`
    counts rows retried after a worker's lease expired (they may have gone out twice).
    """
    with engine.connect() as conn:
        row = crud.get_one(conn, campaigns, principal.account_id, campaign_id, "campaign")
        return {**row, "counters": sending.counters(conn, campaign_id)}


@router.get("/{campaign_id}/analytics", response_model=CampaignAnalytics)
def get_campaign_analytics(
    campaign_id: IdPath, principal: Viewer, engine: Engine, request: Request
) -> dict[str, Any]:
    """Totals, rates, by hour, by mailbox provider and top links, from the analytics marts.

    The numbers are as of `refreshed_at`, the last refresh of the marts (every 5 minutes on
    the local stack, or `murmur pipelines materialize`). A campaign the marts hold nothing
    for yet (never refreshed since it was sent, or not sent) answers 200 with zero counts,
    null rates, empty lists and `refreshed_at: null`. 404 for a campaign of another account;
    503 when ClickHouse cannot be reached.
    """
    with engine.connect() as conn:  # tenancy first: another account's campaign is a 404, not a 503
        crud.get_one(conn, campaigns, principal.account_id, campaign_id, "campaign")
    ch = get_clickhouse(request)
    try:
        result = campaign_analytics(ch, principal.account_id, campaign_id)
    except OperationalError as exc:
        raise clickhouse_unavailable(exc) from None
    except ClickHouseError as exc:
        if "UNKNOWN_TABLE" not in str(exc):
            raise
        result = None  # the marts were never built
    return result if result is not None else empty_analytics(campaign_id)


@router.patch("/{campaign_id}", response_model=CampaignOut)
def update_campaign(
    campaign_id: IdPath, body: CampaignPatch, principal: Editor, engine: Engine
) -> dict[str, Any]:
    """Edit a draft campaign (409 in any other status)."""
    values = body.model_dump(exclude_unset=True)
    try:
        with engine.begin() as conn:
            row = domain.update_campaign(
                conn, principal.account_id, campaign_id, values, principal.actor
            )
    except InvalidCampaign as exc:
        raise _invalid(exc) from None
    except IllegalTransition as exc:
        raise conflict(str(exc)) from None
    if row is None:
        raise not_found("campaign", campaign_id)
    return row


@router.delete("/{campaign_id}", status_code=204)
def delete_campaign(campaign_id: IdPath, principal: Editor, engine: Engine) -> None:
    """Delete a draft or cancelled campaign (409 otherwise)."""
    try:
        with engine.begin() as conn:
            found = domain.delete_campaign(conn, principal.account_id, campaign_id, principal.actor)
    except IllegalTransition as exc:
        raise conflict(str(exc)) from None
    if not found:
        raise not_found("campaign", campaign_id)


@router.post("/{campaign_id}/send", response_model=CampaignOut)
def send_campaign(campaign_id: IdPath, principal: Editor, engine: Engine) -> dict[str, Any]:
    """Validate the campaign and schedule it (now, unless `scheduled_at` is set).

    Checks: the template renders with a sample contact (within the render budget), the segment
    exists, a sender name and address are set (campaign or account defaults) and the account
    has a postal address. 422 lists every problem; 409 if the campaign is not a draft or
    changed while it was checked. The checked template version is pinned: the sender renders
    exactly that version. Dispatch happens later.
    """
    try:
        with engine.connect() as conn:  # render without holding any lock
            check = domain.check_send(conn, principal.account_id, campaign_id)
        if check is None:
            raise not_found("campaign", campaign_id)
        with engine.begin() as conn:
            return domain.schedule_checked(conn, principal.account_id, check, principal.actor)
    except CampaignNotReady as exc:
        raise HTTPException(
            422,
            [{"loc": ["campaign", f], "msg": m, "type": "value_error"} for f, m in exc.problems],
        ) from None
    except (IllegalTransition, CampaignChanged) as exc:
        raise conflict(str(exc)) from None


@router.post("/{campaign_id}/cancel", response_model=CampaignOut)
def cancel_campaign(campaign_id: IdPath, principal: Editor, engine: Engine) -> dict[str, Any]:
    """Cancel a draft, scheduled or sending campaign (409 once sent or cancelled)."""
    try:
        with engine.begin() as conn:
            row = domain.transition(
                conn, principal.account_id, campaign_id, "cancelled", principal.actor
            )
    except IllegalTransition as exc:
        raise conflict(str(exc)) from None
    if row is None:
        raise not_found("campaign", campaign_id)
    return row
