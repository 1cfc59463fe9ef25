"""`/account`: the caller's own account (sender identity and postal address)."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from murmur.api.deps import Admin, Engine, Viewer
from murmur.api.errors import field_error
from murmur.api.types import Email, Name, RequiredText
from murmur.db.tables import accounts
from murmur.domain.audit import audit

router = APIRouter(prefix="/account", tags=["account"])


class AccountOut(BaseModel):
    account_id: uuid.UUID
    name: str
    plan: str
    postal_address: str | None
    default_from_name: str | None
    default_from_email: str | None
    default_reply_to: str | None
    created_at: datetime


class AccountPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name | None = None
    postal_address: RequiredText | None = Field(
        default=None, description="required to send; null clears it, blank is refused"
    )
    default_from_name: RequiredText | None = None
    default_from_email: Email | None = None
    default_reply_to: Email | None = None


@router.get("", response_model=AccountOut)
def get_account(principal: Viewer, engine: Engine) -> dict[str, object]:
    with engine.connect() as conn:
        return _load(conn, principal.account_id)


def _load(conn: sa.Connection, account_id: uuid.UUID) -> dict[str, object]:
    row = conn.execute(sa.select(accounts).where(accounts.c.account_id == account_id))
    return dict(row.mappings().one())


@router.patch("", response_model=AccountOut)
def update_account(body: AccountPatch, principal: Admin, engine: Engine) -> dict[str, object]:
    values = body.model_dump(exclude_unset=True)
    if "name" in values and values["name"] is None:
        raise field_error("name", "must not be null")
    with engine.begin() as conn:
        if values:
            conn.execute(
                accounts.update()
                .where(accounts.c.account_id == principal.account_id)
                .values(**values)
            )
            audit(
                conn,
                principal.account_id,
                principal.actor,
                "account.update",
                "account",
                principal.account_id,
                {"fields": sorted(values)},
            )
        return _load(conn, principal.account_id)
