"""`GET /campaigns/{id}/preview` and `POST /campaigns/{id}/test-send` (murmur.domain.test_send)."""

from __future__ import annotations

import dataclasses
import uuid
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from murmur.api.deps import Editor, Engine, Viewer
from murmur.api.types import MAX_ID, Email, IdPath
from murmur.db.tables import campaigns
from murmur.domain import test_send
from murmur.domain.errors import NotFound
from murmur.rendering.links import TrackingLinkMinter, link_minter
from murmur.settings import Settings, SettingsError

router = APIRouter(prefix="/campaigns", tags=["campaigns"])
ContactQuery = Annotated[
    int | None,
    Query(ge=1, le=MAX_ID, description="Personalise for this contact (default: a sample)."),
]


class Header(BaseModel):
    name: str
    value: str


class PreviewOut(BaseModel):
    """The message as it goes out (the preview's tracking links bind no email record)."""

    campaign_id: int
    contact_id: int | None
    to: str | None
    subject: str
    html: str
    text: str
    headers: list[Header]


class TestSendIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    addresses: list[Email] = Field(
        min_length=1,
        max_length=test_send.MAX_TEST_ADDRESSES,
        description=f"1 to {test_send.MAX_TEST_ADDRESSES} recipients of the test mail.",
    )
    contact_id: int | None = Field(
        default=None, ge=1, le=MAX_ID, description="Personalise for this contact."
    )


class TestSendAddress(BaseModel):
    address: str
    accepted: bool
    message_id: str
    reason: str | None


class TestSendOut(BaseModel):
    campaign_id: int
    contact_id: int | None
    subject: str
    results: list[TestSendAddress]
    warning: str | None = Field(description="Why the mail went out unsigned (no DKIM key).")


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _require_campaign(engine: sa.Engine, account_id: uuid.UUID, campaign_id: int) -> None:
    """404 for a campaign of another account, before any configuration answer (a 503)."""
    with engine.connect() as conn:
        found = conn.execute(
            sa.select(campaigns.c.campaign_id).where(
                campaigns.c.campaign_id == campaign_id, campaigns.c.account_id == account_id
            )
        ).first()
    if found is None:
        raise NotFound.of("campaign", campaign_id)


def _links(settings: Settings) -> TrackingLinkMinter:
    try:
        return link_minter(settings)
    except SettingsError as exc:
        raise HTTPException(503, f"previews and test sends need tracking links: {exc}") from None


@router.get("/{campaign_id}/preview", response_model=PreviewOut)
def preview_campaign(
    campaign_id: IdPath,
    principal: Viewer,
    engine: Engine,
    request: Request,
    contact_id: ContactQuery = None,
) -> dict[str, Any]:
    """Subject, HTML and text of the campaign's mail for one contact, as the sender builds it.

    Personalised (the sample contact without `contact_id`), links rewritten to tracking URLs,
    the footer and the open pixel added, and the headers that go out (unsigned). The tracking
    tokens bind no email record, so viewing a preview never records an open for the contact.
    422 when the template does not render for this contact; 404 for an unknown contact.
    """
    _require_campaign(engine, principal.account_id, campaign_id)
    links = _links(_settings(request))
    with engine.connect() as conn:
        result = test_send.preview(conn, principal.account_id, campaign_id, contact_id, links)
    headers = [{"name": n, "value": v} for n, v in result.headers if n != "Subject"]
    return {
        "campaign_id": campaign_id,
        "contact_id": contact_id,
        "to": result.contact.email,
        "subject": result.parts.subject,
        "html": result.parts.html,
        "text": result.parts.text,
        "headers": headers,
    }


@router.post("/{campaign_id}/test-send", response_model=TestSendOut)
async def test_send_campaign(
    campaign_id: IdPath, body: TestSendIn, principal: Editor, engine: Engine, request: Request
) -> dict[str, Any]:
    """Send the campaign's mail to up to 10 addresses now, subject prefixed `[Test]`.

    Personalised for `contact_id` (default: a sample contact), DKIM-signed when the sending
    domain has a key, through the platform's SMTP relay. Never touches the send ledger or the
    counters; audit-logged. 200 lists each address as accepted or refused (with the relay's
    answer); 502 when the relay cannot be reached; 503 when no relay is configured.
    """
    _require_campaign(engine, principal.account_id, campaign_id)
    settings = _settings(request)
    links = _links(settings)
    try:
        smtp_url = settings.require("smtp_url")
    except SettingsError as exc:
        raise HTTPException(503, f"test sends need an SMTP relay: {exc}") from None
    try:
        report = await run_in_threadpool(
            test_send.send_test_mail,
            engine,
            principal.account_id,
            campaign_id,
            list(body.addresses),
            body.contact_id,
            links,
            smtp_url,
            settings.secret_key or "",
            principal.actor,
        )
    except test_send.SubmitError as exc:
        raise HTTPException(502, exc.message) from None
    return {
        "campaign_id": campaign_id,
        "contact_id": body.contact_id,
        "subject": report.subject,
        "results": [dataclasses.asdict(r) for r in report.addresses],
        "warning": report.warning,
    }
