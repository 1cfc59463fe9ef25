"""GDPR (admin): `GET /contacts/{id}/export` and `POST /contacts/{id}/erase`."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.encoders import jsonable_encoder
from pydantic import BaseModel

from murmur.api.deps import Admin, Engine
from murmur.api.errors import not_found
from murmur.api.types import IdPath
from murmur.domain.gdpr import erase_contact, export_contact

router = APIRouter(prefix="/contacts", tags=["gdpr"])


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


@router.get("/{contact_id}/export", response_model=ContactExport)
def export(contact_id: IdPath, principal: Admin, engine: Engine) -> Any:
    """Everything held about the contact: its row, suppressions, send-ledger rows, audit log."""
    with engine.connect() as conn:
        data = export_contact(conn, principal.account_id, contact_id)
    if data is None:
        raise not_found("contact", contact_id)
    return jsonable_encoder(data)


@router.post("/{contact_id}/erase", response_model=Erasure)
def erase(contact_id: IdPath, principal: Admin, engine: Engine) -> dict[str, Any]:
    """Erase the contact's personal data (idempotent: a repeat answers 200 with the same body).

    The address stays suppressed by its sha256 so a re-import cannot be mailed.
    """
    with engine.begin() as conn:
        result = erase_contact(conn, principal.account_id, contact_id, principal.actor)
    if result is None:
        raise not_found("contact", contact_id)
    return result
