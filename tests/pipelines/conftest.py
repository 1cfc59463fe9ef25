"""Fixtures for the analytics tests: a migrated app database and a private ClickHouse database.

The app-database fixtures are the ones of tests/murmur/conftest.py (imported, not copied).
"""

from __future__ import annotations

import signal
from collections.abc import Iterator

import pytest
from clickhouse_connect.driver.client import Client

from ingestion.consumer.schema import ddl
from murmur.clickhouse import get_client
from murmur.settings import Settings
from tests.clickhouse_db import private_clickhouse
from tests.murmur.conftest import (  # noqa: F401  (fixtures)
    db_engine,
    empty_db_url,
    make_account,
    migrated_db_url,
)


@pytest.fixture(autouse=True)
def _restore_signal_handlers() -> Iterator[None]:
    """Put back the SIGINT and SIGTERM handlers each test started with.

    An in-process Dagster run (`dg.materialize`) swaps both (it maps SIGTERM onto its SIGINT
    handler) and does not always put them back: its interrupt-capturing SIGINT handler has been
    left behind (a later SIGINT was then only a flag), and after a send shard here SIGTERM is
    left raising KeyboardInterrupt.
    """
    started = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    yield
    for signum, handler in started.items():
        if handler is not None:  # None: not installed from Python, nothing to put back
            signal.signal(signum, handler)


# The consumer's own tables (`events`, `event_recipients`): dbt reads what it writes.


@pytest.fixture(scope="module")
def analytics_settings(
    migrated_db_url: str,  # noqa: F811
    clickhouse_url: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Settings]:
    """Settings pointing at the module's app database and a fresh ClickHouse database."""
    state = tmp_path_factory.mktemp("analytics-state")
    with private_clickhouse(
        migrated_db_url, clickhouse_url, state, analytics_dbt_threads=2
    ) as settings:
        yield settings


@pytest.fixture(scope="module")
def ch(analytics_settings: Settings) -> Iterator[Client]:
    client = get_client(analytics_settings)
    for statement in ddl(analytics_settings.clickhouse_database):
        client.command(statement)
    yield client
    client.close()
