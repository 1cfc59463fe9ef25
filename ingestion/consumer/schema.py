"""The ClickHouse tables the consumer writes, created if missing.

`events` is the seed's Events entity without personal data: a ReplacingMergeTree whose sorting
key ends in `event_id`, partitioned by month and ordered for per-account time-range scans. The
consumer never inserts an `event_id` that is already there (it checks before each insert, and the
insert carries a deduplication token), so `select count() from events` counts every event once
even before merges. Recipient addresses and raw payloads (which quote them) live only in
`event_recipients`, so GDPR erasure deletes from one small table.
"""

from __future__ import annotations

EVENTS_TABLE = "events"
RECIPIENTS_TABLE = "event_recipients"

EVENTS_COLUMNS: tuple[tuple[str, str], ...] = (
    ("event_id", "String"),
    ("schema_version", "UInt8"),
    ("type", "LowCardinality(String)"),
    ("timestamp", "DateTime64(3, 'UTC')"),
    ("provider", "LowCardinality(String)"),
    ("provider_event_id", "Nullable(String)"),
    ("provider_message_id", "Nullable(String)"),
    ("email_record_id", "Nullable(Int64)"),
    ("account_id", "UUID"),  # the nil UUID (`empty(account_id)`) when unmatched
    ("campaign_id", "Nullable(Int64)"),
    ("contact_id", "Nullable(Int64)"),
    ("esp", "LowCardinality(Nullable(String))"),
    ("recipient_domain", "LowCardinality(Nullable(String))"),
    ("bounce_type", "LowCardinality(Nullable(String))"),
    ("diagnostic", "Nullable(String)"),
    ("url", "Nullable(String)"),
    ("ip_address", "Nullable(String)"),
    ("user_agent", "Nullable(String)"),
    ("machine_open", "Bool"),
    ("ingested_at", "DateTime64(3, 'UTC')"),
)

RECIPIENTS_COLUMNS: tuple[tuple[str, str], ...] = (
    ("event_id", "String"),
    ("account_id", "UUID"),
    ("email_record_id", "Nullable(Int64)"),
    ("timestamp", "DateTime64(3, 'UTC')"),
    ("recipient", "Nullable(String)"),
    ("recipient_sha256", "Nullable(String)"),  # sha256 hex of the lower-cased address
    ("raw", "String"),  # the provider payload as JSON; it may quote the address
    ("ingested_at", "DateTime64(3, 'UTC')"),
)


def _columns(columns: tuple[tuple[str, str], ...]) -> str:
    return ",\n    ".join(f"`{name}` {kind}" for name, kind in columns)


def ddl(database: str) -> list[str]:
    return [
        f"""create table if not exists `{database}`.`{EVENTS_TABLE}` (
    {_columns(EVENTS_COLUMNS)},
    index idx_event_id event_id type bloom_filter granularity 1
) engine = ReplacingMergeTree(ingested_at)
partition by toYYYYMM(timestamp)
order by (account_id, timestamp, event_id)
settings non_replicated_deduplication_window = 1000""",
        f"""create table if not exists `{database}`.`{RECIPIENTS_TABLE}` (
    {_columns(RECIPIENTS_COLUMNS)}
) engine = ReplacingMergeTree(ingested_at)
partition by toYYYYMM(timestamp)
order by (event_id)
settings non_replicated_deduplication_window = 1000""",
    ]
