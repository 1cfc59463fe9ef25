"""Request dependencies: the engine, the ClickHouse client and API-key auth with role checks.

`require_role("editor")` returns a dependency yielding the caller's `Principal`: 401 for a
missing, malformed, unknown or revoked key; 403 only when the key's role is too low.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

import sqlalchemy as sa
from clickhouse_connect.driver.client import Client
from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from murmur.clickhouse import get_client
from murmur.domain.accounts import ROLE_RANK, ROLES, verify_api_key
from murmur.settings import Settings

_bearer = HTTPBearer(auto_error=False, description="API key: `mm_<prefix>_<secret>`")
_UNAUTHORIZED = {"WWW-Authenticate": "Bearer"}


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key's account and role."""

    account_id: uuid.UUID
    role: str
    api_key_id: int

    @property
    def actor(self) -> str:
        """How audit entries name this caller."""
        return f"api_key:{self.api_key_id}"


def get_engine(request: Request) -> sa.Engine:
    engine: sa.Engine = request.app.state.engine
    return engine


def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def require_role(role: str) -> Callable[..., Principal]:
    """A dependency admitting keys whose role is at least `role` (viewer < editor < admin)."""
    if role not in ROLE_RANK:
        raise ValueError(f"role must be one of {', '.join(ROLES)}, got {role!r}")

    def dependency(
        engine: Annotated[sa.Engine, Depends(get_engine)],
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Principal:
        if credentials is None:
            raise HTTPException(
                401, "missing API key: send `Authorization: Bearer <key>`", _UNAUTHORIZED
            )
        with engine.begin() as conn:
            record = verify_api_key(conn, credentials.credentials)
        if record is None:
            raise HTTPException(401, "invalid or revoked API key", _UNAUTHORIZED)
        if ROLE_RANK[record.role] < ROLE_RANK[role]:
            raise HTTPException(
                403, f"this action needs the {role} role; this API key has role {record.role}"
            )
        return Principal(record.account_id, record.role, record.api_key_id)

    dependency.__name__ = f"require_{role}"
    return dependency


Viewer = Annotated[Principal, Depends(require_role("viewer"))]
Editor = Annotated[Principal, Depends(require_role("editor"))]
Admin = Annotated[Principal, Depends(require_role("admin"))]
Engine = Annotated[sa.Engine, Depends(get_engine)]


class ClickHouseUnavailable(RuntimeError):
    """The analytics store cannot be reached (the API answers 503)."""


_ch_lock = threading.Lock()


def get_clickhouse(request: Request) -> Client:
    """The app's ClickHouse client, built on first use from the app's settings and then reused.

    503 when ClickHouse is not configured or does not answer; the next request tries again.
    """
    app_state = request.app.state
    client: Client | None = getattr(app_state, "clickhouse", None)
    if client is not None:
        return client
    with _ch_lock:
        client = getattr(app_state, "clickhouse", None)
        if client is None:
            settings: Settings = app_state.settings
            try:
                # one client shared by request threads: no session, so queries may overlap
                client = get_client(settings, autogenerate_session_id=False)
            except Exception as exc:  # any failure to connect is a 503
                raise clickhouse_unavailable(exc) from None
            app_state.clickhouse = client
    return client


def clickhouse_unavailable(exc: BaseException) -> HTTPException:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return HTTPException(
        503, f"analytics are unavailable: ClickHouse cannot be reached ({first[:200]})"
    )


ClickHouse = Annotated[Client, Depends(get_clickhouse)]
