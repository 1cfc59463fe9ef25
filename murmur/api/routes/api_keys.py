"""`/api-keys` (admin): create (the key is shown once), list, revoke."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict

from murmur.api import crud
from murmur.api.deps import Admin, Engine
from murmur.api.errors import conflict, not_found
from murmur.api.types import After, IdPath, Limit, Name, Offset
from murmur.db.tables import api_keys
from murmur.domain.accounts import (
    LastAdminKey,
    Role,
    create_api_key,
    public_key_columns,
    revoke_api_key,
)

router = APIRouter(prefix="/api-keys", tags=["api keys"])


class ApiKeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Role
    name: Name | None = None


class ApiKeyOut(BaseModel):
    api_key_id: int
    account_id: uuid.UUID
    role: Role
    name: str | None
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyOut):
    key: str


class ApiKeyPage(crud.Page):
    items: list[ApiKeyOut]  # type: ignore[assignment]


@router.post("", status_code=201, response_model=ApiKeyCreated)
def create_key(body: ApiKeyIn, principal: Admin, engine: Engine) -> dict[str, Any]:
    """Create a key; the response's `key` is the only time the secret is shown."""
    with engine.begin() as conn:
        row, key = create_api_key(
            conn, principal.account_id, body.role, body.name, actor=principal.actor
        )
    return {**row, "key": key}


@router.get("", response_model=ApiKeyPage)
def list_keys(
    principal: Admin, engine: Engine, limit: Limit = 50, offset: Offset = 0, after: After = None
) -> dict[str, Any]:
    with engine.connect() as conn:
        return crud.page(
            conn,
            api_keys,
            principal.account_id,
            columns=public_key_columns(),
            limit=limit,
            offset=offset,
            after=after,
        )


@router.delete("/{api_key_id}", response_model=ApiKeyOut)
def revoke_key(api_key_id: IdPath, principal: Admin, engine: Engine) -> dict[str, Any]:
    """Revoke a key (idempotent); it answers 401 from then on.

    409 for the account's last active admin key: create another admin key first.
    """
    try:
        with engine.begin() as conn:
            row = revoke_api_key(
                conn,
                api_key_id=api_key_id,
                account_id=principal.account_id,
                actor=principal.actor,
                keep_last_admin=True,
            )
    except LastAdminKey as exc:
        raise conflict(str(exc)) from None
    if row is None:
        raise not_found("api key", api_key_id)
    return row
