"""Contact imports: one row per import job (with a heartbeat), plus its per-row error report.

Revision ID: 0002
Revises: 0001
Create Date: 2025-11-28
"""

from __future__ import annotations

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None

UPGRADE = [
    """
    create table import_jobs (
        import_id uuid primary key default gen_random_uuid(),
        account_id uuid not null references accounts (account_id) on delete cascade,
        status text not null default 'queued'
            check (status in ('queued', 'running', 'succeeded', 'failed')),
        filename text,
        size_bytes bigint not null default 0,
        total_rows bigint,
        processed_rows bigint not null default 0,
        inserted bigint not null default 0,
        updated bigint not null default 0,
        unchanged bigint not null default 0,
        duplicates bigint not null default 0,
        error_rows bigint not null default 0,
        columns jsonb not null default '{}',
        error text,
        actor text not null,
        created_at timestamptz not null default now(),
        started_at timestamptz,
        finished_at timestamptz,
        -- heartbeat: every status or progress write; a queued/running job whose heartbeat is
        -- old and whose import holds no lock was interrupted (store.fail_interrupted)
        updated_at timestamptz not null default now()
    )""",
    "create index import_jobs_account_created_idx on import_jobs (account_id, created_at)",
    "create index import_jobs_unfinished_idx on import_jobs (updated_at)"
    " where status in ('queued', 'running')",
    """
    create table import_errors (
        import_id uuid not null references import_jobs (import_id) on delete cascade,
        row_number bigint not null,
        column_name text not null,
        reason text not null,
        value text not null default ''
    )""",
    "create index import_errors_import_row_idx on import_errors (import_id, row_number)",
]

DOWNGRADE = [
    "drop table if exists import_errors",
    "drop table if exists import_jobs",
]


def upgrade() -> None:
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    for statement in DOWNGRADE:
        op.execute(statement)
