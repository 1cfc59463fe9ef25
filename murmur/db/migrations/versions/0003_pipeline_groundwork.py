"""Groundwork for the pipeline: campaign pins, webhook replay tokens, applied feedback events.

Pinned template version and failure reason on campaigns, Mailgun webhook replay tokens, and the
ledger of events the feedback loop has applied (so each applies exactly once).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None

UPGRADE = [
    # the template version a campaign was checked with when it was scheduled; the sender renders
    # exactly this version, so editing the template after scheduling cannot undo the checks
    "alter table campaigns add column template_version integer",
    # why a campaign failed (or what it warns about), in plain words for the marketer
    "alter table campaigns add column status_reason text",
    """
    create table webhook_tokens (
        provider text not null,
        token text not null,
        seen_at timestamptz not null default now(),
        primary key (provider, token)
    )""",
    "create index webhook_tokens_seen_idx on webhook_tokens (seen_at)",
    """
    create table feedback_events (
        event_id text primary key,
        account_id uuid not null references accounts (account_id) on delete cascade,
        contact_id bigint,
        type text not null,
        bounce_type text,
        occurred_at timestamptz not null,
        processed_at timestamptz not null default now()
    )""",
    "create index feedback_events_contact_idx on feedback_events"
    " (account_id, contact_id, type, occurred_at)",
]

DOWNGRADE = [
    "drop table if exists feedback_events",
    "drop table if exists webhook_tokens",
    "alter table campaigns drop column if exists status_reason",
    "alter table campaigns drop column if exists template_version",
]


def upgrade() -> None:
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    for statement in DOWNGRADE:
        op.execute(statement)
