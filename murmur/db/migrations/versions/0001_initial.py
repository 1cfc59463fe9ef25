"""Initial schema: accounts, auth, contacts, suppressions, content, campaigns, send ledger, audit.

Revision ID: 0001
Revises:
Create Date: 2025-11-28
"""

from __future__ import annotations

from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

EMAILS_PARTITIONS = 16

_ID = "bigint generated always as identity"
_ACCOUNT = "account_id uuid not null references accounts (account_id) on delete cascade"
_STAMPS = (
    "created_at timestamptz not null default now(), updated_at timestamptz not null default now()"
)

UPGRADE = [
    """
    create table accounts (
        account_id uuid primary key default gen_random_uuid(),
        name text not null,
        plan text not null default 'free',
        postal_address text,
        default_from_name text,
        default_from_email text,
        default_reply_to text,
        created_at timestamptz not null default now()
    )""",
    f"""
    create table users (
        user_id {_ID} primary key,
        {_ACCOUNT},
        email text not null,
        password_hash text not null,
        role text not null check (role in ('viewer', 'editor', 'admin')),
        created_at timestamptz not null default now(),
        unique (account_id, email)
    )""",
    f"""
    create table api_keys (
        api_key_id {_ID} primary key,
        {_ACCOUNT},
        role text not null check (role in ('viewer', 'editor', 'admin')),
        name text,
        prefix text not null unique,
        secret_hash text not null,
        created_at timestamptz not null default now(),
        last_used_at timestamptz,
        revoked_at timestamptz
    )""",
    "create index api_keys_account_idx on api_keys (account_id)",
    f"""
    create table contacts (
        contact_id {_ID} primary key,
        {_ACCOUNT},
        email text not null,
        first_name text,
        last_name text,
        custom_fields jsonb not null default '{{}}',
        status text not null default 'subscribed'
            check (status in ('subscribed', 'unsubscribed', 'bounced', 'complained')),
        consent_source text,
        consent_at timestamptz,
        consent_ip inet,
        {_STAMPS},
        unique (account_id, email)
    )""",
    "create index contacts_account_status_idx on contacts (account_id, status)",
    f"""
    create table suppressions (
        suppression_id {_ID} primary key,
        {_ACCOUNT},
        email text not null,
        reason text not null
            check (reason in ('unsubscribe', 'bounce', 'complaint', 'manual', 'erasure')),
        source text,
        created_at timestamptz not null default now(),
        unique (account_id, email)
    )""",
    f"""
    create table segments (
        segment_id {_ID} primary key,
        {_ACCOUNT},
        name text not null,
        kind text not null check (kind in ('criteria', 'dbt')),
        definition jsonb,
        dbt_model text,
        {_STAMPS},
        check ((kind = 'criteria' and definition is not null)
            or (kind = 'dbt' and dbt_model is not null))
    )""",
    "create index segments_account_idx on segments (account_id)",
    f"""
    create table templates (
        template_id {_ID} primary key,
        {_ACCOUNT},
        name text not null,
        subject text not null,
        body_html text not null,
        body_text text,
        version integer not null default 1,
        {_STAMPS}
    )""",
    "create index templates_account_idx on templates (account_id)",
    f"""
    create table template_versions (
        template_version_id {_ID} primary key,
        {_ACCOUNT},
        template_id bigint not null references templates (template_id) on delete cascade,
        version integer not null,
        name text not null,
        subject text not null,
        body_html text not null,
        body_text text,
        created_at timestamptz not null default now(),
        unique (template_id, version)
    )""",
    f"""
    create table campaigns (
        campaign_id {_ID} primary key,
        {_ACCOUNT},
        name text not null,
        subject text not null,
        template_id bigint references templates (template_id) on delete restrict,
        segment_id bigint references segments (segment_id) on delete restrict,
        from_name text,
        from_email text,
        reply_to text,
        scheduled_at timestamptz,
        status text not null default 'draft'
            check (status in ('draft', 'scheduled', 'sending', 'sent', 'cancelled')),
        {_STAMPS}
    )""",
    "create index campaigns_account_status_idx on campaigns (account_id, status)",
    "create index campaigns_scheduled_at_idx on campaigns (scheduled_at)",
    f"""
    create table emails (
        email_record_id {_ID},
        account_id uuid not null,
        campaign_id bigint not null references campaigns (campaign_id) on delete cascade,
        contact_id bigint not null,
        status text not null default 'queued'
            check (status in ('queued', 'sending', 'sent', 'failed', 'skipped')),
        esp text,
        esp_message_id text,
        queued_at timestamptz not null default now(),
        sent_at timestamptz,
        error text,
        primary key (campaign_id, email_record_id),
        unique (campaign_id, contact_id)
    ) partition by hash (campaign_id)""",
    *[
        f"create table emails_p{i:02d} partition of emails"
        f" for values with (modulus {EMAILS_PARTITIONS}, remainder {i})"
        for i in range(EMAILS_PARTITIONS)
    ],
    "create index emails_account_contact_idx on emails (account_id, contact_id)",
    "create index emails_campaign_status_idx on emails (campaign_id, status)",
    f"""
    create table audit_log (
        audit_id {_ID} primary key,
        account_id uuid not null,
        actor text not null,
        action text not null,
        object_type text,
        object_id text,
        details jsonb not null default '{{}}',
        at timestamptz not null default now()
    )""",
    "create index audit_log_object_idx on audit_log (account_id, object_type, object_id)",
    "create index audit_log_account_at_idx on audit_log (account_id, at)",
    """
    create function audit_log_append_only() returns trigger language plpgsql as $$
    begin
        raise exception 'audit_log is append-only (% rejected)', tg_op
            using errcode = 'insufficient_privilege';
    end
    $$""",
    """
    create trigger audit_log_no_update_delete before update or delete on audit_log
        for each row execute function audit_log_append_only()""",
    """
    create trigger audit_log_no_truncate before truncate on audit_log
        for each statement execute function audit_log_append_only()""",
    f"""
    create table erasures (
        erasure_id {_ID} primary key,
        account_id uuid not null,
        email_sha256 text not null,
        erased_at timestamptz not null default now(),
        actor text not null,
        unique (account_id, email_sha256)
    )""",
]

DOWNGRADE = [
    "drop table if exists erasures",
    "drop table if exists audit_log",
    "drop function if exists audit_log_append_only()",
    "drop table if exists emails",
    "drop table if exists campaigns",
    "drop table if exists template_versions",
    "drop table if exists templates",
    "drop table if exists segments",
    "drop table if exists suppressions",
    "drop table if exists contacts",
    "drop table if exists api_keys",
    "drop table if exists users",
    "drop table if exists accounts",
]


def upgrade() -> None:
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    for statement in DOWNGRADE:
        op.execute(statement)
