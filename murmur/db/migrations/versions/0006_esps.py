"""ESP accounts per Murmuration account, shared token buckets, rate-limit change log.

`esps` holds the ESP accounts an account sends through (kind smtp | ses), tried in `priority`
order (lowest first) with failover; credentials are encrypted with MURMUR_SECRET_KEY.
`emails.esp_id` is the configured ESP that sent a message (null: the platform default; the
`esp` text column names it either way). `rate_buckets` is the token-bucket state every sender
worker leases tokens from, so one limit holds across all workers and shards; `factor` is the
adaptive throttle's multiplier. `rate_limit_changes` logs every adaptive change.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from __future__ import annotations

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None

UPGRADE = [
    """
    create table esps (
        esp_id bigint generated always as identity primary key,
        account_id uuid not null references accounts (account_id) on delete cascade,
        name text not null,
        kind text not null check (kind in ('smtp', 'ses')),
        priority integer not null default 100,
        rate_limit double precision check (rate_limit is null or rate_limit > 0),
        sending_domains text[] not null default '{}',
        settings jsonb not null default '{}',
        credentials_encrypted text,
        enabled boolean not null default true,
        created_at timestamptz not null default now(),
        updated_at timestamptz not null default now(),
        unique (account_id, name)
    )""",
    "create index esps_account_priority_idx on esps (account_id, priority, esp_id)",
    "alter table emails add column esp_id bigint",
    """
    create table rate_buckets (
        bucket text primary key,
        tokens double precision not null,
        factor double precision not null default 1 check (factor > 0 and factor <= 1),
        updated_at timestamptz not null default clock_timestamp(),
        factor_changed_at timestamptz
    )""",
    """
    create table rate_limit_changes (
        change_id bigint generated always as identity primary key,
        bucket text not null,
        old_factor double precision not null,
        new_factor double precision not null,
        reason text not null,
        changed_at timestamptz not null default now()
    )""",
    "create index rate_limit_changes_bucket_idx on rate_limit_changes (bucket, changed_at)",
]

DOWNGRADE = [
    "drop table if exists rate_limit_changes",
    "drop table if exists rate_buckets",
    "alter table emails drop column if exists esp_id",
    "drop table if exists esps",
]


def upgrade() -> None:
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    for statement in DOWNGRADE:
        op.execute(statement)
