"""Fixtures for the dashboard tests: a populated world (session-scoped: the dbt build is slow)
and an AppTest factory that signs in as one of its users.

The app reads its settings from `MURMUR_*` when a session starts: the fixtures set them to the
world's databases.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from clickhouse_connect.driver.client import Client
from streamlit.testing.v1 import AppTest

from ingestion.consumer.schema import ddl
from murmur.clickhouse import get_client
from murmur.db.engine import make_engine
from murmur.db.migrate import upgrade
from murmur.settings import Settings
from tests.clickhouse_db import private_clickhouse
from tests.dashboards.world import PASSWORD, World, build
from tests.murmur.conftest import database_url

APP = Path(__file__).resolve().parents[2] / "dashboards" / "streamlit_app.py"
SignIn = Callable[..., AppTest]


def _fresh_databases(
    postgres_url: str, clickhouse_url: str, state: Path, kafka: str | None
) -> Iterator[tuple[Settings, Client]]:
    """A migrated app database and a private ClickHouse database with the consumer's tables."""
    name = f"t_dash_{uuid.uuid4().hex[:10]}"
    server = database_url(postgres_url, "postgres")
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'create database "{name}"')
    db_url = database_url(postgres_url, name)
    try:
        upgrade(db_url)
        with private_clickhouse(
            db_url, clickhouse_url, state, kafka_bootstrap_servers=kafka, analytics_dbt_threads=2
        ) as settings:
            ch = get_client(settings)
            try:
                for statement in ddl(settings.clickhouse_database):
                    ch.command(statement)
                yield settings, ch
            finally:
                ch.close()
    finally:
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f'drop database if exists "{name}" with (force)')


@pytest.fixture(scope="session")
def world(
    postgres_url: str,
    clickhouse_url: str,
    kafka_bootstrap: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[World]:
    """The populated world: marts built by replication + dbt (takes a minute or two)."""
    state = tmp_path_factory.mktemp("dash-state")
    for settings, ch in _fresh_databases(postgres_url, clickhouse_url, state, kafka_bootstrap):
        engine = make_engine(settings.postgres_url or "", pool_size=2, max_overflow=2)
        try:
            yield build(settings, engine, ch)
        finally:
            engine.dispose()


@pytest.fixture(scope="session")
def empty_world(
    postgres_url: str, clickhouse_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Settings, uuid.UUID]]:
    """An account with users but no data at all: no marts, no campaigns, no Dagster runs."""
    from tests.dashboards.world import add_user

    state = tmp_path_factory.mktemp("dash-empty-state")
    for settings, _ in _fresh_databases(postgres_url, clickhouse_url, state, None):
        engine = make_engine(settings.postgres_url or "", pool_size=1, max_overflow=1)
        from murmur.domain.accounts import create_account

        with engine.begin() as conn:
            account = create_account(conn, "empty-co")
            for role in ("admin", "viewer"):
                add_user(conn, account, f"{role}@empty.test", role)
        engine.dispose()
        yield settings, account


def app_env(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> None:
    monkeypatch.setenv("MURMUR_POSTGRES_URL", settings.postgres_url or "")
    monkeypatch.setenv("MURMUR_CLICKHOUSE_URL", settings.clickhouse_url or "")
    monkeypatch.setenv("MURMUR_CLICKHOUSE_DATABASE", settings.clickhouse_database)
    monkeypatch.setenv("MURMUR_STATE_DIR", str(settings.state_dir))
    if settings.kafka_bootstrap_servers:
        monkeypatch.setenv("MURMUR_KAFKA_BOOTSTRAP_SERVERS", settings.kafka_bootstrap_servers)
    else:
        monkeypatch.delenv("MURMUR_KAFKA_BOOTSTRAP_SERVERS", raising=False)
    monkeypatch.delenv("DAGSTER_HOME", raising=False)


def sign_in(email: str, password: str = PASSWORD) -> AppTest:
    """A fresh app session signed in through the real sign-in form."""
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    at.text_input[0].input(email)
    at.text_input[1].input(password)
    at.button[0].click().run()
    return at


@pytest.fixture
def signed_in(monkeypatch: pytest.MonkeyPatch, world: World) -> SignIn:
    """`signed_in(role)` → an AppTest signed in as that role's user of the world."""
    app_env(monkeypatch, world.settings)

    def make(role: str = "admin") -> AppTest:
        at = sign_in(world.user(role))
        assert not at.exception, at.exception
        assert not at.error, [e.value for e in at.error]
        return at

    return make
