"""Segments: lifecycle, description and owner, and the last computed size.

`status` is `active` or `retired` (a dbt segment whose model file was removed: kept, with its
history, never deleted); `description` and `owner` come from the dbt YAML or the API;
`last_computed_at` and `size` mirror the latest membership refresh in ClickHouse
(`segment_refreshes` there is the truth), so the API can answer without ClickHouse. One dbt
segment per (account, model).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from __future__ import annotations

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None

UPGRADE = [
    "alter table segments add column status text not null default 'active'"
    " check (status in ('active', 'retired'))",
    "alter table segments add column description text",
    "alter table segments add column owner text",
    "alter table segments add column last_computed_at timestamptz",
    "alter table segments add column size bigint",
    "create unique index segments_dbt_model_uq on segments (account_id, dbt_model)"
    " where kind = 'dbt'",
]

DOWNGRADE = [
    "drop index if exists segments_dbt_model_uq",
    "alter table segments drop column if exists size",
    "alter table segments drop column if exists last_computed_at",
    "alter table segments drop column if exists owner",
    "alter table segments drop column if exists description",
    "alter table segments drop column if exists status",
]


def upgrade() -> None:
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    for statement in DOWNGRADE:
        op.execute(statement)
