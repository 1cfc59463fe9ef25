"""GDPR (admin): `GET /contacts/{id}/export`, `POST /contacts/{id}/erase`, `POST /gdpr/erase`."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.encoders import jsonable_encoder
from pydantic import BaseModel, ConfigDict

from murmur.api.deps import Admin, Engine
from murmur.api.types import Email, IdPath
from murmur.domain.errors import NotFound
from murmur.domain.gdpr import erase_contact, erase_email, export_contact

router = APIRouter(tags=["gdpr"])


class ContactExport(BaseModel):
    contact: dict[str, Any]
    suppressions: list[dict[str, Any]]
    emails: list[dict[str, Any]]
    audit: list[dict[str, Any]]
    import_errors: list[dict[str, Any]]


class Erasure(BaseModel):
    contact_id: int
    email_sha256: str
    erased_at: str


class EmailErasureIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: Email


class EmailErasure(BaseModel):
    contact_id: int | None
    email_sha256: str
    erased_at: str


@router.get("/contacts/{contact_id}/export", response_model=ContactExport)
def export(contact_id: IdPath, principal: Admin, engine: Engine) -> Any:
    """Everything held about the contact: its row, suppressions, send-ledger rows, audit log."""
    with engine.connect() as conn:
        data = export_contact(conn, principal.account_id, contact_id)
    if data is None:
        raise NotFound.of("contact", contact_id)
    return jsonable_encoder(data)


@router.post("/contacts/{contact_id}/erase", response_model=Erasure)
def erase(contact_id: IdPath, principal: Admin, engine: Engine) -> dict[str, Any]:
    """Erase the contact's personal data (idempotent: a repeat answers 200 with the same body).

    The address stays suppressed by its sha256 so a re-import cannot be mailed. A contact
    deleted with `DELETE /contacts/{id}` answers 404 here: erase its address with
    `POST /gdpr/erase`.
    """
    with engine.begin() as conn:
        result = erase_contact(conn, principal.account_id, contact_id, principal.actor)
    if result is None:
        raise NotFound(
            f"contact {contact_id} not found; if it was deleted, erase its address with "
            "POST /api/v1/gdpr/erase"
        )
    return result


@router.post("/gdpr/erase", response_model=EmailErasure)
def erase_address(body: EmailErasureIn, principal: Admin, engine: Engine) -> dict[str, Any]:
    """Erase everything held for an email address in the account, with or without a contact.

    Deletes the contact row if any, the address's suppressions and the import error-report rows
    quoting it, blanks ledger error texts of the contact or quoting the address, and records a
    tombstone (sha256 of the normalized address) and an `erasure` suppression `sha256:<hex>`, so
    the address is refused by `POST /contacts` and the import and never mailed. Audited as
    `contact.erase` without the address. Idempotent: every repeat answers 200 with the same
    body (`contact_id` is the erased contact's id, null if the account had no contact).
    """
    with engine.begin() as conn:
        return erase_email(conn, principal.account_id, body.email, principal.actor)
