"""Fixtures for the segment tests: a private ClickHouse database with the segment tables.

The app-database fixtures are the ones of tests/murmur/conftest.py (imported, not copied).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from clickhouse_connect.driver.client import Client
from fastapi.testclient import TestClient

from murmur.analytics.segments import ensure_segment_tables
from murmur.clickhouse import get_client
from murmur.settings import Settings
from tests.clickhouse_db import private_clickhouse
from tests.murmur.conftest import (  # noqa: F401  (fixtures)
    db_engine,
    empty_db_url,
    make_account,
    migrated_db_url,
)


@pytest.fixture(scope="module")
def ch_settings(
    migrated_db_url: str,  # noqa: F811
    clickhouse_url: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Settings]:
    """Settings pointing at the module's app database and a fresh ClickHouse database."""
    state = tmp_path_factory.mktemp("segments-state")
    with private_clickhouse(migrated_db_url, clickhouse_url, state) as settings:
        yield settings


@pytest.fixture(scope="module")
def ch(ch_settings: Settings) -> Iterator[Client]:
    """A client on the module's ClickHouse database, with the segment tables created."""
    client = get_client(ch_settings)
    ensure_segment_tables(client)
    yield client
    client.close()


@pytest.fixture(scope="module")
def ch_api(ch_settings: Settings, ch: Client) -> Iterator[TestClient]:
    """The API over the module's app database and ClickHouse database (no credentials)."""
    from murmur.api.app import create_app

    app = create_app(ch_settings)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client
    app.state.engine.dispose()
