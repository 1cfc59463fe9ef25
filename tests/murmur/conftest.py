"""Fixtures for tests that need the app database: a fresh migrated database per test module,
the API app over it, and a factory for accounts with API keys.

Names are shared with other test packages (contacts import): `migrated_db_url`, `db_engine`,
`api_app`, `api_client`, `make_account`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient

from murmur.db.engine import make_engine
from murmur.db.migrate import upgrade
from murmur.domain.accounts import create_account, create_api_key
from murmur.settings import Settings, get_settings

MakeAccount = Callable[..., tuple[uuid.UUID, str]]


def database_url(url: str, database: str) -> str:
    """`url` with its database path replaced (the scheme is normalized for psycopg)."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(scheme="postgresql", path=f"/{database}"))


@pytest.fixture(scope="module")
def empty_db_url(postgres_url: str) -> Iterator[str]:
    """A fresh, empty database `t_<hex>` on the session's Postgres; dropped after the module."""
    name = f"t_{uuid.uuid4().hex[:16]}"
    server = database_url(postgres_url, "postgres")
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'create database "{name}"')
    yield database_url(postgres_url, name)
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'drop database if exists "{name}" with (force)')


@pytest.fixture(scope="module")
def migrated_db_url(empty_db_url: str) -> str:
    """A fresh database migrated to head (module-scoped)."""
    upgrade(empty_db_url)
    return empty_db_url


@pytest.fixture(scope="module")
def db_engine(migrated_db_url: str) -> Iterator[sa.Engine]:
    engine = make_engine(migrated_db_url, pool_size=2, max_overflow=5)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def api_settings(migrated_db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    state: Path = tmp_path_factory.mktemp("api-state")
    return get_settings(postgres_url=migrated_db_url, state_dir=state)


@pytest.fixture(scope="module")
def api_app(api_settings: Settings) -> Iterator[FastAPI]:
    from murmur.api.app import create_app

    app = create_app(api_settings)
    yield app
    app.state.engine.dispose()


@pytest.fixture(scope="module")
def api_client(api_app: FastAPI) -> Iterator[TestClient]:
    """A TestClient without credentials: pass `headers=auth(key)` per request."""
    with TestClient(api_app, raise_server_exceptions=False) as client:
        yield client


@pytest.fixture(scope="module")
def make_account(db_engine: sa.Engine) -> MakeAccount:
    """`make_account(role="admin", account_id=None, **account_fields) -> (account_id, api_key)`.

    Creates a new account (postal address and sender identity set, so campaigns can be sent)
    with one key of `role`; with `account_id`, adds a key of `role` to that account instead.
    """

    def make(
        role: str = "admin", account_id: uuid.UUID | None = None, **fields: object
    ) -> tuple[uuid.UUID, str]:
        with db_engine.begin() as conn:
            if account_id is None:
                values: dict[str, object] = {
                    "postal_address": "1 Test Street, Springfield",
                    "default_from_name": "Test Sender",
                    "default_from_email": "sender@example.com",
                }
                values.update(fields)
                account_id = create_account(conn, f"acct-{uuid.uuid4().hex[:8]}", **values)
            _, key = create_api_key(conn, account_id, role, name=f"{role} key")
        return account_id, key

    return make


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture(scope="module")
def api_server(migrated_db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real `murmur api serve` process over the module's database; yields its base URL."""
    import os
    import subprocess
    import sys

    import httpx

    from murmur.net import free_port, wait_until

    port = free_port()
    state = tmp_path_factory.mktemp("api-server-state")
    env = {**os.environ, "MURMUR_POSTGRES_URL": migrated_db_url, "MURMUR_STATE_DIR": str(state)}
    log = (state / "api.log").open("wb")
    argv = [sys.executable, "-m", "murmur", "api", "serve", "--host", "127.0.0.1"]
    proc = subprocess.Popen([*argv, "--port", str(port)], env=env, stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(
            lambda: (
                proc.poll() is None
                and httpx.get(f"{base}/api/v1/openapi.json", timeout=2).status_code == 200
            ),
            60,
            f"murmur api serve on port {port} (log: {state / 'api.log'})",
        )
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
