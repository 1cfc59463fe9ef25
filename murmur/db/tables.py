"""SQLAlchemy Core mirror of the migrations, used to build queries (the migrations are the truth).

`tests/murmur/db` checks both directions: every migrated table and column is here, and every
table and column here is migrated.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import INET, JSONB, UUID

metadata = sa.MetaData()


def _id(name: str) -> sa.Column[int]:
    return sa.Column(name, sa.BigInteger, sa.Identity(always=True), primary_key=True)


def _account() -> sa.Column[Any]:
    return sa.Column("account_id", UUID(as_uuid=True), nullable=False)


def _ts(name: str, nullable: bool = False) -> sa.Column[Any]:
    default = None if nullable else sa.func.now()
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable, server_default=default)


accounts = sa.Table(
    "accounts",
    metadata,
    sa.Column(
        "account_id",
        UUID(as_uuid=True),
        primary_key=True,
        server_default=sa.text("gen_random_uuid()"),
    ),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("plan", sa.Text, nullable=False, server_default="free"),
    sa.Column("postal_address", sa.Text),
    sa.Column("default_from_name", sa.Text),
    sa.Column("default_from_email", sa.Text),
    sa.Column("default_reply_to", sa.Text),
    _ts("created_at"),
)

users = sa.Table(
    "users",
    metadata,
    _id("user_id"),
    _account(),
    sa.Column("email", sa.Text, nullable=False),
    sa.Column("password_hash", sa.Text, nullable=False),
    sa.Column("role", sa.Text, nullable=False),
    _ts("created_at"),
)

api_keys = sa.Table(
    "api_keys",
    metadata,
    _id("api_key_id"),
    _account(),
    sa.Column("role", sa.Text, nullable=False),
    sa.Column("name", sa.Text),
    sa.Column("prefix", sa.Text, nullable=False),
    sa.Column("secret_hash", sa.Text, nullable=False),
    _ts("created_at"),
    _ts("last_used_at", nullable=True),
    _ts("revoked_at", nullable=True),
)

contacts = sa.Table(
    "contacts",
    metadata,
    _id("contact_id"),
    _account(),
    sa.Column("email", sa.Text, nullable=False),
    sa.Column("first_name", sa.Text),
    sa.Column("last_name", sa.Text),
    sa.Column("custom_fields", JSONB, nullable=False, server_default="{}"),
    sa.Column("status", sa.Text, nullable=False, server_default="subscribed"),
    sa.Column("consent_source", sa.Text),
    _ts("consent_at", nullable=True),
    sa.Column("consent_ip", INET),
    _ts("created_at"),
    _ts("updated_at"),
)

suppressions = sa.Table(
    "suppressions",
    metadata,
    _id("suppression_id"),
    _account(),
    sa.Column("email", sa.Text, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("source", sa.Text),
    _ts("created_at"),
)

segments = sa.Table(
    "segments",
    metadata,
    _id("segment_id"),
    _account(),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("definition", JSONB),
    sa.Column("dbt_model", sa.Text),
    _ts("created_at"),
    _ts("updated_at"),
)

templates = sa.Table(
    "templates",
    metadata,
    _id("template_id"),
    _account(),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("subject", sa.Text, nullable=False),
    sa.Column("body_html", sa.Text, nullable=False),
    sa.Column("body_text", sa.Text),
    sa.Column("version", sa.Integer, nullable=False, server_default="1"),
    _ts("created_at"),
    _ts("updated_at"),
)

template_versions = sa.Table(
    "template_versions",
    metadata,
    _id("template_version_id"),
    _account(),
    sa.Column("template_id", sa.BigInteger, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("subject", sa.Text, nullable=False),
    sa.Column("body_html", sa.Text, nullable=False),
    sa.Column("body_text", sa.Text),
    _ts("created_at"),
)

campaigns = sa.Table(
    "campaigns",
    metadata,
    _id("campaign_id"),
    _account(),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("subject", sa.Text, nullable=False),
    sa.Column("template_id", sa.BigInteger),
    sa.Column("segment_id", sa.BigInteger),
    sa.Column("from_name", sa.Text),
    sa.Column("from_email", sa.Text),
    sa.Column("reply_to", sa.Text),
    _ts("scheduled_at", nullable=True),
    sa.Column("status", sa.Text, nullable=False, server_default="draft"),
    _ts("created_at"),
    _ts("updated_at"),
    sa.Column("template_version", sa.Integer),
    sa.Column("status_reason", sa.Text),
)

emails = sa.Table(
    "emails",
    metadata,
    sa.Column("email_record_id", sa.BigInteger, sa.Identity(always=True), primary_key=True),
    _account(),
    sa.Column("campaign_id", sa.BigInteger, primary_key=True),
    sa.Column("contact_id", sa.BigInteger, nullable=False),
    sa.Column("status", sa.Text, nullable=False, server_default="queued"),
    sa.Column("esp", sa.Text),
    sa.Column("esp_message_id", sa.Text),
    _ts("queued_at"),
    _ts("sent_at", nullable=True),
    sa.Column("error", sa.Text),
)

audit_log = sa.Table(
    "audit_log",
    metadata,
    _id("audit_id"),
    _account(),
    sa.Column("actor", sa.Text, nullable=False),
    sa.Column("action", sa.Text, nullable=False),
    sa.Column("object_type", sa.Text),
    sa.Column("object_id", sa.Text),
    sa.Column("details", JSONB, nullable=False, server_default="{}"),
    _ts("at"),
)

erasures = sa.Table(
    "erasures",
    metadata,
    _id("erasure_id"),
    _account(),
    sa.Column("email_sha256", sa.Text, nullable=False),
    _ts("erased_at"),
    sa.Column("actor", sa.Text, nullable=False),
)

webhook_tokens = sa.Table(
    "webhook_tokens",
    metadata,
    sa.Column("provider", sa.Text, primary_key=True),
    sa.Column("token", sa.Text, primary_key=True),
    _ts("seen_at"),
)

feedback_events = sa.Table(
    "feedback_events",
    metadata,
    sa.Column("event_id", sa.Text, primary_key=True),
    _account(),
    sa.Column("contact_id", sa.BigInteger),
    sa.Column("type", sa.Text, nullable=False),
    sa.Column("bounce_type", sa.Text),
    sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
    _ts("processed_at"),
)

import_jobs = sa.Table(
    "import_jobs",
    metadata,
    sa.Column(
        "import_id",
        UUID(as_uuid=True),
        primary_key=True,
        server_default=sa.text("gen_random_uuid()"),
    ),
    _account(),
    sa.Column("status", sa.Text, nullable=False, server_default="queued"),
    sa.Column("filename", sa.Text),
    sa.Column("size_bytes", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("total_rows", sa.BigInteger),
    sa.Column("processed_rows", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("inserted", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("updated", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("unchanged", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("duplicates", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("error_rows", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("columns", JSONB, nullable=False, server_default="{}"),
    sa.Column("error", sa.Text),
    sa.Column("actor", sa.Text, nullable=False),
    _ts("created_at"),
    _ts("started_at", nullable=True),
    _ts("finished_at", nullable=True),
    _ts("updated_at"),
)

import_errors = sa.Table(
    "import_errors",
    metadata,
    sa.Column("import_id", UUID(as_uuid=True), nullable=False),
    sa.Column("row_number", sa.BigInteger, nullable=False),
    sa.Column("column_name", sa.Text, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("value", sa.Text, nullable=False, server_default=""),
)


# sender (migration 0004): ledger leases, snapshot time, DKIM keys
emails.append_column(sa.Column("lease_until", sa.DateTime(timezone=True)))
emails.append_column(sa.Column("attempts", sa.Integer, nullable=False, server_default="0"))
emails.append_column(
    sa.Column("possible_duplicate", sa.Boolean, nullable=False, server_default=sa.false())
)
campaigns.append_column(sa.Column("snapshot_at", sa.DateTime(timezone=True)))
campaigns.append_column(
    sa.Column("possible_duplicates", sa.Integer, nullable=False, server_default="0")
)

dkim_keys = sa.Table(
    "dkim_keys",
    metadata,
    _id("dkim_key_id"),
    _account(),
    sa.Column("domain", sa.Text, nullable=False),
    sa.Column("selector", sa.Text, nullable=False),
    sa.Column("algorithm", sa.Text, nullable=False),
    sa.Column("private_key_encrypted", sa.Text, nullable=False),
    sa.Column("public_key", sa.Text, nullable=False),
    _ts("created_at"),
)

# segments (migration 0005): lifecycle, description, owner, last computed size
segments.append_column(sa.Column("status", sa.Text, nullable=False, server_default="active"))
segments.append_column(sa.Column("description", sa.Text))
segments.append_column(sa.Column("owner", sa.Text))
segments.append_column(sa.Column("last_computed_at", sa.DateTime(timezone=True)))
segments.append_column(sa.Column("size", sa.BigInteger))

# ESPs, shared rate limits (migration 0006)
esps = sa.Table(
    "esps",
    metadata,
    _id("esp_id"),
    _account(),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("priority", sa.Integer, nullable=False, server_default="100"),
    sa.Column("rate_limit", sa.Float),
    sa.Column("sending_domains", sa.ARRAY(sa.Text), nullable=False, server_default="{}"),
    sa.Column("settings", JSONB, nullable=False, server_default="{}"),
    sa.Column("credentials_encrypted", sa.Text),
    sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.true()),
    _ts("created_at"),
    _ts("updated_at"),
)
emails.append_column(sa.Column("esp_id", sa.BigInteger))

rate_buckets = sa.Table(
    "rate_buckets",
    metadata,
    sa.Column("bucket", sa.Text, primary_key=True),
    sa.Column("tokens", sa.Float, nullable=False),
    sa.Column("factor", sa.Float, nullable=False, server_default="1"),
    _ts("updated_at"),
    _ts("factor_changed_at", nullable=True),
)

rate_limit_changes = sa.Table(
    "rate_limit_changes",
    metadata,
    _id("change_id"),
    sa.Column("bucket", sa.Text, nullable=False),
    sa.Column("old_factor", sa.Float, nullable=False),
    sa.Column("new_factor", sa.Float, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    _ts("changed_at"),
)
