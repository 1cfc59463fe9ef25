"""What the replication copies: one `TableSpec` per Postgres table, and its ClickHouse raw table.

Every raw table is a `ReplacingMergeTree(_synced_at)` keyed by the Postgres primary key, so a row
copied twice (an overlapping watermark, a crash before the watermark moved) collapses into its
latest copy; readers use `FINAL` (the dbt staging views do).

Contact email addresses are personal data. They are copied to exactly one restricted table,
`raw_contact_pii` (address, names, consent IP); every other raw table, and every dbt model,
carries `email_sha256` and `email_domain` instead. Ledger error texts (which may quote an address)
are not copied at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pyarrow as pa

Mode = Literal["updated_at", "id", "ledger", "full"]

_SHA = "encode(sha256(convert_to({col}, 'UTF8')), 'hex')"
_DOMAIN = "nullif(lower(split_part({col}, '@', 2)), '')"


@dataclass(frozen=True)
class Column:
    name: str
    sql: str  # a Postgres expression over the source table
    arrow: pa.DataType
    clickhouse: str


@dataclass(frozen=True)
class TableSpec:
    """One Postgres table copied into ClickHouse `raw_<name>` (or `target` when given).

    `mode` says how changes are found: `updated_at` (rows whose `updated_at` passed the
    watermark, with a look-back for transactions that commit late), `id` (append-mostly tables:
    ids above the highest copied id), `ledger` (the send ledger: new ids plus the rows still
    queued/sending in ClickHouse, the only ones whose state can still change) or `full` (small
    tables copied whole on every run). Deleted rows are found by diffing primary keys.
    """

    source: str
    key: str
    mode: Mode
    columns: tuple[Column, ...]
    target: str = ""

    @property
    def table(self) -> str:
        return self.target or f"raw_{self.source}"


def _uuid(name: str, sql: str | None = None) -> Column:
    return Column(name, f"({sql or name})::text", pa.string(), "UUID")


def _int(name: str, nullable: bool = False) -> Column:
    return Column(name, name, pa.int64(), "Nullable(Int64)" if nullable else "Int64")


def _text(name: str, sql: str | None = None, nullable: bool = True) -> Column:
    return Column(name, sql or name, pa.string(), "Nullable(String)" if nullable else "String")


def _ts(name: str, nullable: bool = False) -> Column:
    ch = "DateTime64(6, 'UTC')"
    return Column(name, name, pa.timestamp("us", tz="UTC"), f"Nullable({ch})" if nullable else ch)


ACCOUNTS = TableSpec(
    "accounts",
    "account_id",
    "full",
    (
        _uuid("account_id"),
        _text("name", nullable=False),
        _text("plan", nullable=False),
        _text("default_sending_domain", _DOMAIN.format(col="default_from_email")),
        _ts("created_at"),
    ),
)

CONTACTS = TableSpec(
    "contacts",
    "contact_id",
    "updated_at",
    (
        _int("contact_id"),
        _uuid("account_id"),
        _text("email_sha256", _SHA.format(col="email"), nullable=False),
        _text("email_domain", _DOMAIN.format(col="email")),
        _text("status", nullable=False),
        _text("custom_fields", "custom_fields::text", nullable=False),
        _text("consent_source"),
        _ts("consent_at", nullable=True),
        _ts("created_at"),
        _ts("updated_at"),
    ),
)

# The one restricted table holding contact addresses (and names): see the module docstring.
CONTACT_PII = TableSpec(
    "contacts",
    "contact_id",
    "updated_at",
    (
        _int("contact_id"),
        _uuid("account_id"),
        _text("email", nullable=False),
        _text("email_sha256", _SHA.format(col="email"), nullable=False),
        _text("first_name"),
        _text("last_name"),
        _text("consent_ip", "host(consent_ip)"),
        _ts("updated_at"),
    ),
    target="raw_contact_pii",
)

CAMPAIGNS = TableSpec(
    "campaigns",
    "campaign_id",
    "updated_at",
    (
        _int("campaign_id"),
        _uuid("account_id"),
        _text("name", nullable=False),
        _text("subject", nullable=False),
        _int("template_id", nullable=True),
        _int("segment_id", nullable=True),
        _text("from_name"),
        _text("from_email"),
        _text("sending_domain", _DOMAIN.format(col="from_email")),
        _text("status", nullable=False),
        _ts("scheduled_at", nullable=True),
        _ts("created_at"),
        _ts("updated_at"),
    ),
)

SEGMENTS = TableSpec(
    "segments",
    "segment_id",
    "updated_at",
    (
        _int("segment_id"),
        _uuid("account_id"),
        _text("name", nullable=False),
        _text("kind", nullable=False),
        _text("definition", "definition::text"),
        _text("dbt_model"),
        _ts("created_at"),
        _ts("updated_at"),
    ),
)

TEMPLATES = TableSpec(
    "templates",
    "template_id",
    "updated_at",
    (
        _int("template_id"),
        _uuid("account_id"),
        _text("name", nullable=False),
        _text("subject", nullable=False),
        Column("version", "version", pa.int64(), "Int64"),
        _ts("created_at"),
        _ts("updated_at"),
    ),
)

EMAILS = TableSpec(
    "emails",
    "email_record_id",
    "ledger",
    (
        _int("email_record_id"),
        _uuid("account_id"),
        _int("campaign_id"),
        _int("contact_id"),
        _text("status", nullable=False),
        _text("esp"),
        _text("esp_message_id"),
        Column("has_error", "error is not null", pa.bool_(), "Bool"),
        _ts("queued_at"),
        _ts("sent_at", nullable=True),
    ),
)

SUPPRESSIONS = TableSpec(
    "suppressions",
    "suppression_id",
    "id",
    (
        _int("suppression_id"),
        _uuid("account_id"),
        # an erasure suppression is keyed `sha256:<hex>` already: keep the hex, never rehash it
        _text(
            "email_sha256",
            "case when left(email, 7) = 'sha256:' then substr(email, 8) else "
            + _SHA.format(col="email")
            + " end",
            nullable=False,
        ),
        _text(
            "email_domain",
            "case when left(email, 7) = 'sha256:' then null else "
            + _DOMAIN.format(col="email")
            + " end",
        ),
        _text("reason", nullable=False),
        _text("source"),
        _ts("created_at"),
    ),
)

SPECS: tuple[TableSpec, ...] = (
    ACCOUNTS,
    CONTACTS,
    CONTACT_PII,
    CAMPAIGNS,
    SEGMENTS,
    TEMPLATES,
    EMAILS,
    SUPPRESSIONS,
)

STATE_TABLE = "replication_state"


def arrow_schema(spec: TableSpec) -> pa.Schema:
    return pa.schema(
        [
            pa.field(c.name, c.arrow, nullable=c.clickhouse.startswith("Nullable"))
            for c in spec.columns
        ]
        + [pa.field("_synced_at", pa.timestamp("us", tz="UTC"), nullable=False)]
    )


def create_sql(spec: TableSpec) -> str:
    """DDL of the raw table (in the client's database)."""
    cols = ",\n  ".join(f"`{c.name}` {c.clickhouse}" for c in spec.columns)
    return (
        f"create table if not exists `{spec.table}` (\n  {cols},\n"
        "  `_synced_at` DateTime64(6, 'UTC')\n"
        f") engine = ReplacingMergeTree(_synced_at) order by `{spec.key}`"
    )


STATE_SQL = f"""
create table if not exists `{STATE_TABLE}` (
  `table_name` String,
  `watermark_at` Nullable(DateTime64(6, 'UTC')),
  `watermark_id` Nullable(Int64),
  `rows_copied` UInt64,
  `rows_deleted` UInt64,
  `synced_at` DateTime64(6, 'UTC')
) engine = ReplacingMergeTree(synced_at) order by table_name
"""
