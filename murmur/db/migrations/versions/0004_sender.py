"""Sender: ledger leases and duplicate marks, campaign snapshot time, DKIM keys.

`emails.lease_until` is when a worker's claim on a `sending` row lapses (a re-run retries it and
marks it `possible_duplicate`); `campaigns.snapshot_at` is when the audience was frozen into the
ledger; `dkim_keys` holds one signing key per (account, domain, selector), the private key
encrypted with MURMUR_SECRET_KEY.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None

UPGRADE = [
    "alter table emails add column lease_until timestamptz",
    "alter table emails add column attempts integer not null default 0",
    "alter table emails add column possible_duplicate boolean not null default false",
    "alter table campaigns add column snapshot_at timestamptz",
    "alter table campaigns add column possible_duplicates integer not null default 0",
    """
    create table dkim_keys (
        dkim_key_id bigint generated always as identity primary key,
        account_id uuid not null references accounts (account_id) on delete cascade,
        domain text not null,
        selector text not null,
        algorithm text not null check (algorithm in ('rsa', 'ed25519')),
        private_key_encrypted text not null,
        public_key text not null,
        created_at timestamptz not null default now(),
        unique (account_id, domain, selector)
    )""",
    "create index dkim_keys_domain_idx on dkim_keys (account_id, domain, created_at)",
]

DOWNGRADE = [
    "drop table if exists dkim_keys",
    "alter table campaigns drop column if exists possible_duplicates",
    "alter table campaigns drop column if exists snapshot_at",
    "alter table emails drop column if exists possible_duplicate",
    "alter table emails drop column if exists attempts",
    "alter table emails drop column if exists lease_until",
]


def upgrade() -> None:
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    for statement in DOWNGRADE:
        op.execute(statement)
