"""`/esps`: the ESP accounts (SMTP relays, Amazon SES) an account sends through, with failover.

Credentials are write-only: stored encrypted with MURMUR_SECRET_KEY and shown as a redacted
hint (`credentials_hint`). Reading needs a viewer key, changing an admin key.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from murmur.api import crud
from murmur.api.deps import Admin, Engine, Viewer, get_settings_dep
from murmur.api.types import After, IdPath, Limit, Offset, ShortText
from murmur.db.tables import esps
from murmur.domain import esps as domain
from murmur.domain.audit import audit
from murmur.settings import Settings

router = APIRouter(prefix="/esps", tags=["esps"])
AppSettings = Annotated[Settings, Depends(get_settings_dep)]
Priority = Annotated[int, Field(ge=0, le=1_000_000, description="failover order, lowest first")]
Rate = Annotated[
    float, Field(gt=0, le=domain.MAX_RATE, allow_inf_nan=False, description="messages/s")
]
Domains = Annotated[list[ShortText], Field(max_length=100)]
Strings = Annotated[dict[ShortText, ShortText], Field(max_length=10)]


class EspIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: ShortText
    kind: domain.EspKind
    priority: Priority = 100
    rate_limit: Rate | None = None
    sending_domains: Domains = []
    settings: Strings = Field(
        default={}, description="ses: region, configuration_set, endpoint_url; smtp: none"
    )
    credentials: Strings = Field(
        default={},
        description="smtp: {url: smtp://user:pass@host:port}; ses: access_key_id and "
        "secret_access_key (or none: the default AWS chain). Write-only.",
    )
    enabled: bool = True


class EspPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: ShortText | None = None
    priority: Priority | None = None
    rate_limit: Rate | None = None
    sending_domains: Domains | None = None
    settings: Strings | None = None
    credentials: Strings | None = None
    enabled: bool | None = None


class EspOut(BaseModel):
    esp_id: int
    account_id: uuid.UUID
    name: str
    kind: str
    priority: int
    rate_limit: float | None
    sending_domains: list[str]
    settings: dict[str, Any]
    enabled: bool
    has_credentials: bool
    credentials_hint: str | None
    created_at: datetime
    updated_at: datetime


class EspPage(crud.Page):
    items: list[EspOut]  # type: ignore[assignment]


def _secret(settings: Settings) -> str:
    return settings.secret_key or ""


@router.post("", status_code=201, response_model=EspOut)
def create_esp(
    body: EspIn, principal: Admin, engine: Engine, settings: AppSettings
) -> dict[str, Any]:
    """Add an ESP account (credentials encrypted; 422 without a usable MURMUR_SECRET_KEY)."""
    with engine.begin() as conn:
        row = domain.create_esp(conn, principal.account_id, body.model_dump(), _secret(settings))
        audit(
            conn,
            principal.account_id,
            principal.actor,
            "esp.create",
            "esp",
            row["esp_id"],
            {"name": row["name"], "kind": row["kind"]},
        )
    return domain.public(row, _secret(settings))


@router.get("", response_model=EspPage)
def list_esps(
    principal: Viewer,
    engine: Engine,
    settings: AppSettings,
    limit: Limit = 50,
    offset: Offset = 0,
    after: After = None,
) -> dict[str, Any]:
    """The account's ESPs in id order (the failover order is `priority`)."""
    with engine.connect() as conn:
        page = crud.page(conn, esps, principal.account_id, limit=limit, offset=offset, after=after)
    page["items"] = [domain.public(r, _secret(settings)) for r in page["items"]]
    return page


@router.get("/{esp_id}", response_model=EspOut)
def get_esp(
    esp_id: IdPath, principal: Viewer, engine: Engine, settings: AppSettings
) -> dict[str, Any]:
    with engine.connect() as conn:
        row = crud.get_one(conn, esps, principal.account_id, esp_id, "esp")
    return domain.public(row, _secret(settings))


@router.patch("/{esp_id}", response_model=EspOut)
def update_esp(
    esp_id: IdPath, body: EspPatch, principal: Admin, engine: Engine, settings: AppSettings
) -> dict[str, Any]:
    """Change some fields.

    `credentials` replaces the stored ones; `rate_limit: null` removes the limit.
    """
    changes = body.model_dump(exclude_unset=True)
    with engine.begin() as conn:
        row = domain.update_esp(conn, principal.account_id, esp_id, changes, _secret(settings))
        audit(
            conn,
            principal.account_id,
            principal.actor,
            "esp.update",
            "esp",
            esp_id,
            {"fields": sorted(changes)},
        )
    return domain.public(row, _secret(settings))


@router.delete("/{esp_id}", status_code=204)
def delete_esp(esp_id: IdPath, principal: Admin, engine: Engine) -> None:
    """Remove an ESP (emails it sent keep its name in `esp`)."""
    with engine.begin() as conn:
        crud.delete_one(conn, esps, principal.account_id, esp_id, "esp")
        audit(conn, principal.account_id, principal.actor, "esp.delete", "esp", esp_id, {})
