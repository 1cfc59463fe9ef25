"""`/contacts`: create, list (filter by status/email), get, update, delete, consent."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter
from pydantic import AfterValidator, BaseModel, ConfigDict, IPvAnyAddress

from murmur.api import crud
from murmur.api.deps import Editor, Engine, Viewer
from murmur.api.errors import not_found
from murmur.api.types import After, Email, IdPath, JsonObject, Limit, Offset, ShortText
from murmur.db.tables import contacts
from murmur.domain import contacts as domain
from murmur.domain.consent import check_consent_at, record_consent, withdraw_consent
from murmur.domain.suppression import ContactStatus

router = APIRouter(prefix="/contacts", tags=["contacts"])
Status = ContactStatus
ConsentAt = Annotated[datetime | None, AfterValidator(check_consent_at)]


class ContactOut(BaseModel):
    contact_id: int
    account_id: uuid.UUID
    email: str
    first_name: str | None
    last_name: str | None
    custom_fields: dict[str, Any]
    status: str
    consent_source: str | None
    consent_at: datetime | None
    consent_ip: IPvAnyAddress | None
    created_at: datetime
    updated_at: datetime


class ContactPage(crud.Page):
    items: list[ContactOut]  # type: ignore[assignment]


class ConsentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    source: ShortText
    at: ConsentAt = None
    ip: IPvAnyAddress | None = None


class ContactIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: Email
    first_name: ShortText | None = None
    last_name: ShortText | None = None
    custom_fields: JsonObject = {}
    consent: ConsentIn | None = None


class ContactPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: Email | None = None
    first_name: ShortText | None = None
    last_name: ShortText | None = None
    custom_fields: JsonObject | None = None
    status: Status | None = None


class UnsubscribeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    source: ShortText | None = None


@router.post("", status_code=201, response_model=ContactOut)
def create_contact(body: ContactIn, principal: Editor, engine: Engine) -> dict[str, Any]:
    """Create one contact; bulk loads go through the CSV import, with the same rules.

    The status is `subscribed` unless the address is suppressed: then `bounced`, `complained`
    or (unsubscribe, manual) `unsubscribed`. An erased address (GDPR) is refused with 409 until
    an admin lifts its erasure.
    """
    consent = None
    if body.consent is not None:
        consent = domain.Consent(body.consent.source, body.consent.at, body.consent.ip)
    with engine.begin() as conn:
        return domain.create_contact(
            conn,
            principal.account_id,
            principal.actor,
            body.model_dump(exclude={"consent"}),
            consent,
        )


@router.get("", response_model=ContactPage)
def list_contacts(
    principal: Viewer,
    engine: Engine,
    status: Status | None = None,
    email: Email | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
    after: After = None,
) -> dict[str, Any]:
    where = crud.equal_filters([(contacts.c.status, status), (contacts.c.email, email)])
    with engine.connect() as conn:
        return crud.page(
            conn,
            contacts,
            principal.account_id,
            where=where,
            limit=limit,
            offset=offset,
            after=after,
        )


@router.get("/{contact_id}", response_model=ContactOut)
def get_contact(contact_id: IdPath, principal: Viewer, engine: Engine) -> dict[str, Any]:
    with engine.connect() as conn:
        return crud.get_one(conn, contacts, principal.account_id, contact_id, "contact")


@router.patch("/{contact_id}", response_model=ContactOut)
def update_contact(
    contact_id: IdPath, body: ContactPatch, principal: Editor, engine: Engine
) -> dict[str, Any]:
    """Update fields; `custom_fields` is replaced whole.

    A status other than `subscribed` adds the matching suppression; `subscribed` is refused
    (409) while the address is suppressed. A new email follows the create rules: 409 if taken
    or erased; if it is suppressed, a subscribed contact takes the suppression's status.
    """
    with engine.begin() as conn:
        return domain.update_contact(
            conn,
            principal.account_id,
            principal.actor,
            contact_id,
            body.model_dump(exclude_unset=True),
        )


@router.delete("/{contact_id}", status_code=204)
def delete_contact(contact_id: IdPath, principal: Editor, engine: Engine) -> None:
    """Delete the contact row; its suppressions stay.

    For GDPR erasure use `/erase`, or `POST /gdpr/erase` with the address once the row is gone.
    """
    with engine.begin() as conn:
        domain.delete_contact(conn, principal.account_id, principal.actor, contact_id)


@router.post("/{contact_id}/consent", response_model=ContactOut)
def grant_consent(
    contact_id: IdPath, body: ConsentIn, principal: Editor, engine: Engine
) -> dict[str, Any]:
    """Record consent (source, time, IP) on the contact; logged as `consent.granted`."""
    with engine.begin() as conn:
        if not record_consent(
            conn,
            principal.account_id,
            contact_id,
            body.source,
            body.at,
            body.ip,
            principal.actor,
        ):
            raise not_found("contact", contact_id)
        return crud.get_one(conn, contacts, principal.account_id, contact_id, "contact")


@router.post("/{contact_id}/unsubscribe", response_model=ContactOut)
def unsubscribe(
    contact_id: IdPath, body: UnsubscribeIn, principal: Editor, engine: Engine
) -> dict[str, Any]:
    """Withdraw consent: suppress the address (`unsubscribe`); logged as `consent.withdrawn`."""
    with engine.begin() as conn:
        if not withdraw_consent(
            conn, principal.account_id, contact_id, body.source, principal.actor
        ):
            raise not_found("contact", contact_id)
        return crud.get_one(conn, contacts, principal.account_id, contact_id, "contact")
