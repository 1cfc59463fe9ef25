"""Fixtures for the analytics tests: a migrated app database and a private ClickHouse database.

The app-database fixtures are the ones of tests/murmur/conftest.py (imported, not copied).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from clickhouse_connect.driver.client import Client

from murmur.clickhouse import ensure_database, get_client
from murmur.settings import Settings, get_settings
from tests.murmur.conftest import (  # noqa: F401  (fixtures)
    db_engine,
    empty_db_url,
    make_account,
    migrated_db_url,
)

# Mirror of the consumer's DDL (branch `consumer`, issue 9); replaced at merge by the consumer's
# own `events` table. Columns: the fields of murmur.events.EmailEvent except `recipient` and
# `raw`, plus `ingested_at`.
EVENTS_DDL = """
create table if not exists events (
  schema_version UInt8 default 1,
  event_id String,
  type LowCardinality(String),
  timestamp DateTime64(3, 'UTC'),
  provider LowCardinality(String),
  provider_event_id Nullable(String),
  provider_message_id Nullable(String),
  email_record_id Nullable(Int64),
  account_id Nullable(UUID),
  campaign_id Nullable(Int64),
  contact_id Nullable(Int64),
  esp Nullable(String),
  recipient_domain Nullable(String),
  bounce_type Nullable(String),
  diagnostic Nullable(String),
  url Nullable(String),
  ip_address Nullable(String),
  user_agent Nullable(String),
  machine_open Bool default false,
  ingested_at DateTime64(3, 'UTC') default now64(3)
) engine = ReplacingMergeTree(ingested_at)
partition by toYYYYMM(timestamp)
order by event_id
"""


@pytest.fixture(scope="module")
def analytics_settings(
    migrated_db_url: str,  # noqa: F811
    clickhouse_url: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Settings]:
    """Settings pointing at the module's app database and a fresh ClickHouse database."""
    database = f"t_{uuid.uuid4().hex[:12]}"
    state: Path = tmp_path_factory.mktemp("analytics-state")
    settings = get_settings(
        postgres_url=migrated_db_url,
        clickhouse_url=clickhouse_url,
        clickhouse_database=database,
        state_dir=state,
        analytics_dbt_threads=2,
    )
    ensure_database(settings)
    yield settings
    client = get_client(settings, database=False)
    try:
        client.command(f"drop database if exists `{database}` sync")
    finally:
        client.close()


@pytest.fixture(scope="module")
def ch(analytics_settings: Settings) -> Iterator[Client]:
    client = get_client(analytics_settings)
    client.command(EVENTS_DDL)
    yield client
    client.close()
