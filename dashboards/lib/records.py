"""Reads of the app database (Postgres, the source of truth) for the pages, account-scoped.

Campaigns, templates, segments and contacts come from Postgres; the reporting numbers come from
the marts (`reporting`). Short TTLs: these change while the user watches.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pandas as pd
import sqlalchemy as sa
import streamlit as st

from dashboards.lib.connection import postgres
from murmur.db.tables import audit_log, campaigns, contacts, segments, suppressions, templates
from murmur.domain.sending import counters

SEARCH_LIMIT = 50


def _frame(query: sa.Select[Any]) -> pd.DataFrame:
    with postgres().connect() as conn:
        result = conn.execute(query)
        return pd.DataFrame(result.all(), columns=list(result.keys()))


def _pg_key() -> str:
    return str(postgres().url)


@st.cache_data(ttl=5, show_spinner=False)
def _ledger_counts(source: str, account_id: str, campaign_id: int) -> dict[str, int]:
    with postgres().connect() as conn:
        owned = conn.execute(
            sa.select(campaigns.c.campaign_id).where(
                campaigns.c.account_id == uuid.UUID(account_id),
                campaigns.c.campaign_id == campaign_id,
            )
        ).first()
        if owned is None:
            return {"total": 0}
        return counters(conn, campaign_id)


def ledger_counts(account_id: str, campaign_id: int) -> dict[str, int]:
    """The send ledger's counts per state (`murmur.domain.sending.counters`) and `total`."""
    return _ledger_counts(_pg_key(), account_id, campaign_id)


@st.cache_data(ttl=60, show_spinner=False)
def _suppression_growth(
    source: str, account_id: str, start: dt.datetime, end: dt.datetime, tz: str
) -> pd.DataFrame:
    day = sa.func.date(sa.func.timezone(tz, suppressions.c.created_at)).label("day")
    acct = uuid.UUID(account_id)
    before = _frame(
        sa.select(sa.func.count().label("n")).where(
            suppressions.c.account_id == acct, suppressions.c.created_at < start
        )
    )
    df = _frame(
        sa.select(day, suppressions.c.reason, sa.func.count().label("added"))
        .where(
            suppressions.c.account_id == acct,
            suppressions.c.created_at >= start,
            suppressions.c.created_at < end,
        )
        .group_by(day, suppressions.c.reason)
        .order_by(day, suppressions.c.reason)
    )
    base = int(before["n"].iloc[0]) if len(before) else 0
    df["total"] = base + df["added"].cumsum()
    return df


def suppression_growth(
    account_id: str, start: dt.datetime, end: dt.datetime, tz: str
) -> pd.DataFrame:
    """Suppressions added per day (in `tz`) and reason, and the running list size."""
    return _suppression_growth(_pg_key(), account_id, start, end, tz)


def campaign_list(account_id: str) -> pd.DataFrame:
    c = campaigns.c
    return _frame(
        sa.select(c.campaign_id, c.name, c.status, c.subject, c.template_id, c.segment_id,
                  c.scheduled_at, c.status_reason, c.updated_at)
        .where(c.account_id == uuid.UUID(account_id))
        .order_by(c.campaign_id.desc())
        .limit(500)
    )  # fmt: skip


def template_list(account_id: str) -> pd.DataFrame:
    t = templates.c
    return _frame(
        sa.select(t.template_id, t.name, t.subject, t.version)
        .where(t.account_id == uuid.UUID(account_id))
        .order_by(t.name, t.template_id)
    )


def _segment_columns() -> list[str]:
    """Columns of `segments` (migration 0005 adds status / last_computed_at and the like)."""
    with postgres().connect() as conn:
        return [c["name"] for c in sa.inspect(conn).get_columns("segments")]


def segment_list(account_id: str) -> pd.DataFrame:
    """The account's segments with whatever status columns the schema has."""
    present = _segment_columns()
    table = sa.table("segments", *(sa.column(n) for n in present))
    wanted = [n for n in ("segment_id", "name", "kind", "dbt_model", "definition", "status",
                          "last_computed_at", "updated_at") if n in present]  # fmt: skip
    return _frame(
        sa.select(*(table.c[n] for n in wanted))
        .where(table.c.account_id == uuid.UUID(account_id))
        .order_by(table.c.name, table.c.segment_id)
    )


def segment_names(account_id: str, ids: list[int]) -> dict[int, str]:
    if not ids:
        return {}
    df = _frame(
        sa.select(segments.c.segment_id, segments.c.name).where(
            segments.c.account_id == uuid.UUID(account_id), segments.c.segment_id.in_(ids)
        )
    )
    return {int(r.segment_id): str(r.name) for r in df.itertuples()}


def search_contacts(account_id: str, text: str) -> pd.DataFrame:
    """Contacts of the account whose email contains `text` (case-insensitive), at most 50."""
    c = contacts.c
    needle = text.strip().lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return _frame(
        sa.select(c.contact_id, c.email, c.first_name, c.last_name, c.status)
        .where(c.account_id == uuid.UUID(account_id), c.email.ilike(f"%{needle}%", escape="\\"))
        .order_by(c.email)
        .limit(SEARCH_LIMIT)
    )


def contact_row(account_id: str, contact_id: int) -> dict[str, Any] | None:
    with postgres().connect() as conn:
        row = (
            conn.execute(
                sa.select(contacts).where(
                    contacts.c.account_id == uuid.UUID(account_id),
                    contacts.c.contact_id == contact_id,
                )
            )
            .mappings()
            .one_or_none()
        )
    return dict(row) if row is not None else None


def consent_history(account_id: str, contact_id: int) -> pd.DataFrame:
    a = audit_log.c
    return _frame(
        sa.select(a.at, a.action, a.actor, a.details)
        .where(
            a.account_id == uuid.UUID(account_id),
            a.object_type == "contact",
            a.object_id == str(contact_id),
            a.action.like("consent.%"),
        )
        .order_by(a.at.desc())
        .limit(100)
    )
