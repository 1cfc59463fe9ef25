"""Test-only ClickHouse tables the segment compiler reads, with the columns dbt builds.

`raw_contacts`/`raw_contact_pii` are the replication's own DDL (murmur/analytics/tables.py);
`fct_email_events` and `contact_engagement` mirror dbt_project/models/marts (only the columns
a segment reads, with dbt's types), filled with known rows so every answer is known exactly.
`events` and its rollup `contact_last_events` are the consumer's own DDL
(ingestion/consumer/schema.py): `add_events` writes every event there too, as the consumer
would (the rollup's materialized view fills it), so both sources hold the same history; the
`events` rows are written by tests/pipelines/history.py's `Events`, as the pipeline tests do.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from clickhouse_connect.driver.client import Client

from ingestion.consumer.schema import ddl as consumer_ddl
from murmur.analytics.tables import CONTACT_PII, CONTACTS, create_sql
from tests.pipelines.history import Events

MART_DDL = (
    """create table if not exists fct_email_events (
        event_id String, email_record_id Nullable(Int64), account_id Nullable(UUID),
        campaign_id Nullable(Int64), contact_id Nullable(Int64), event_type String,
        bounce_type Nullable(String), url Nullable(String), is_machine_open Bool,
        event_date Date, event_at DateTime64(3, 'UTC'), ingested_at DateTime64(3, 'UTC')
    ) engine = MergeTree partition by toYYYYMM(event_date)
    order by (event_type, event_date, event_id)""",
    """create table if not exists contact_engagement (
        contact_id Int64, account_id UUID, recency_bucket String,
        engagement_score UInt8, last_engaged_at Nullable(DateTime64(3, 'UTC'))
    ) engine = MergeTree order by (account_id, contact_id)""",
)

EVENT_COLUMNS = [
    "event_id",
    "email_record_id",
    "account_id",
    "campaign_id",
    "contact_id",
    "event_type",
    "bounce_type",
    "url",
    "is_machine_open",
    "event_date",
    "event_at",
    "ingested_at",
]


def create_sources(ch: Client) -> None:
    """The raw contact tables, the consumer's events (with the rollup) and the two marts."""
    ch.command(create_sql(CONTACTS))
    ch.command(create_sql(CONTACT_PII))
    for statement in consumer_ddl(ch.database):
        ch.command(statement)
    for statement in MART_DDL:
        ch.command(statement)


def add_events(ch: Client, account_id: uuid.UUID, rows: list[dict[str, Any]]) -> None:
    """Insert events into the mart and `events`: each row gives contact_id, event_type, event_at.

    Each call is one insert per table, so separate calls leave separate (unmerged) parts.
    """
    data, raw = [], Events()
    for i, row in enumerate(rows):
        at: dt.datetime = row["event_at"]
        data.append(
            [
                row.get("event_id", f"{uuid.uuid4().hex}-{i}"),
                row.get("email_record_id"),
                account_id,
                row.get("campaign_id"),
                row["contact_id"],
                row["event_type"],
                row.get("bounce_type"),
                row.get("url"),
                row.get("is_machine_open", False),
                at.date(),
                at,
                at,
            ]
        )
        raw.add(
            (account_id, row.get("campaign_id"), row["contact_id"], row.get("email_record_id")),
            row["event_type"],
            at,
            domain=None,
            bounce_type=row.get("bounce_type"),
            url=row.get("url"),
            machine_open=row.get("is_machine_open", False),
            event_id=data[-1][0],
            ingested_at=at,
        )
    ch.insert("fct_email_events", data, column_names=EVENT_COLUMNS)
    raw.insert(ch)


def add_engagement(ch: Client, account_id: uuid.UUID, buckets: dict[int, str]) -> None:
    ch.insert(
        "contact_engagement",
        [[cid, account_id, bucket, 0, None] for cid, bucket in buckets.items()],
        column_names=[
            "contact_id",
            "account_id",
            "recency_bucket",
            "engagement_score",
            "last_engaged_at",
        ],
    )
