"""`/contacts`: create, list (filter by status/email), get, update, delete, consent."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

import sqlalchemy as sa
from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, IPvAnyAddress

from murmur.api import crud
from murmur.api.deps import Editor, Engine, Viewer
from murmur.api.errors import conflict, field_error, not_found
from murmur.api.types import After, Email, IdPath, JsonObject, Limit, Offset, ShortText
from murmur.db.tables import contacts
from murmur.domain.audit import audit
from murmur.domain.consent import record_consent, withdraw_consent
from murmur.domain.suppression import (
    is_erased,
    suppress,
    suppressed_emails,
    suppression_status,
)

router = APIRouter(prefix="/contacts", tags=["contacts"])
Status = Literal["subscribed", "unsubscribed", "bounced", "complained"]
STATUS_REASON = {"unsubscribed": "unsubscribe", "bounced": "bounce", "complained": "complaint"}
ERASED = (
    "this address was erased under GDPR; an admin must lift the erasure first"
    " (DELETE /suppressions/{id} of its `erasure` suppression)"
)


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
    at: datetime | None = None
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


def _email_taken(conn: sa.Connection, account_id: uuid.UUID, email: str) -> bool:
    query = sa.select(contacts.c.contact_id).where(
        contacts.c.account_id == account_id, contacts.c.email == email
    )
    return conn.execute(query).first() is not None


def _check_new_address(conn: sa.Connection, account_id: uuid.UUID, email: str) -> None:
    """409 if the address is taken by another contact or was erased (GDPR tombstone)."""
    if _email_taken(conn, account_id, email):
        raise field_error("email", "a contact with this email already exists", 409)
    if is_erased(conn, account_id, email):
        raise field_error("email", ERASED, 409)


@router.post("", status_code=201, response_model=ContactOut)
def create_contact(body: ContactIn, principal: Editor, engine: Engine) -> dict[str, Any]:
    """Create one contact; bulk loads go through the CSV import, with the same rules.

    The status is `subscribed` unless the address is suppressed: then `bounced`, `complained`
    or (unsubscribe, manual) `unsubscribed`. An erased address (GDPR) is refused with 409 until
    an admin lifts its erasure.
    """
    with engine.begin() as conn:
        _check_new_address(conn, principal.account_id, body.email)
        status = suppression_status(conn, principal.account_id, body.email)
        row = conn.execute(
            contacts.insert()
            .values(
                account_id=principal.account_id,
                status=status or "subscribed",
                **body.model_dump(exclude={"consent"}),
            )
            .returning(contacts.c.contact_id)
        ).one()
        audit(conn, principal.account_id, principal.actor, "contact.create", "contact", row[0])
        if body.consent is not None:
            record_consent(
                conn,
                principal.account_id,
                row[0],
                body.consent.source,
                body.consent.at,
                body.consent.ip,
                principal.actor,
            )
        return crud.get_one(conn, contacts, principal.account_id, row[0], "contact")


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
    values = body.model_dump(exclude_unset=True)
    for field in ("email", "custom_fields", "status"):
        if field in values and values[field] is None:
            raise field_error(field, "must not be null")
    account_id = principal.account_id
    with engine.begin() as conn:
        current = crud.get_one(conn, contacts, account_id, contact_id, "contact", for_update=True)
        email = values.get("email", current["email"])
        new_email = email != current["email"]
        if new_email:
            _check_new_address(conn, account_id, email)
        status = values.pop("status", None)
        if status == "subscribed" and suppressed_emails(conn, account_id, [email]):
            raise conflict(
                "status: cannot resubscribe a suppressed address; delete its suppression first"
            )
        if new_email and status is None and current["status"] == "subscribed":
            imposed = suppression_status(conn, account_id, email)
            if imposed is not None:
                values["status"] = imposed
        if values:
            crud.update_one(conn, contacts, account_id, contact_id, values, "contact")
        if status in STATUS_REASON:
            suppress(conn, account_id, email, STATUS_REASON[status], "api", principal.actor)
        elif status == "subscribed":
            crud.update_one(conn, contacts, account_id, contact_id, {"status": status}, "contact")
        changed = sorted([*values, *(["status"] if status else [])])
        audit(
            conn,
            account_id,
            principal.actor,
            "contact.update",
            "contact",
            contact_id,
            {"fields": changed},
        )
        return crud.get_one(conn, contacts, account_id, contact_id, "contact")


@router.delete("/{contact_id}", status_code=204)
def delete_contact(contact_id: IdPath, principal: Editor, engine: Engine) -> None:
    """Delete the contact row; its suppressions stay.

    For GDPR erasure use `/erase`, or `POST /gdpr/erase` with the address once the row is gone.
    """
    with engine.begin() as conn:
        crud.delete_one(conn, contacts, principal.account_id, contact_id, "contact")
        audit(conn, principal.account_id, principal.actor, "contact.delete", "contact", contact_id)


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
