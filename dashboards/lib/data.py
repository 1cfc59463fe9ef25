"""Cached access to the marts for the pages: `st.cache_data(ttl=...)` over `reporting`.

The cache key includes the data source (server and database) and the account, so two accounts
or two servers never share an entry.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from dashboards.lib import reporting
from dashboards.lib.connection import cache_key, clickhouse

TTL_SECONDS = 60
MART_TABLES = frozenset(
    {
        "campaign_performance",
        "campaign_performance_hourly",
        "deliverability_by_mailbox_provider",
        "fct_email_events",
        "fct_email_sends",
        "contact_engagement",
    }
)
BUILD_HINT = (
    "The reporting marts are not built yet. Run `murmur pipelines materialize` "
    "(or materialize the analytics assets in the Dagster UI), then reload this page."
)


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def _run(source: str, name: str, *args: Any) -> Any:
    return getattr(reporting, name)(clickhouse(), *args)


def query(name: str, *args: Any) -> Any:
    """`reporting.<name>(client, *args)`, cached for TTL_SECONDS."""
    return _run(cache_key(), name, *args)


@st.cache_data(ttl=30, show_spinner=False)
def _tables(source: str) -> frozenset[str]:
    return frozenset(reporting.tables(clickhouse()))


def marts_ready() -> bool:
    """True when every mart the pages read exists; else the page shows how to build them."""
    return MART_TABLES <= _tables(cache_key())


def need_marts() -> None:
    """Stop the page with the build hint when the marts are missing."""
    if not marts_ready():
        st.info(BUILD_HINT)
        st.stop()


def has_table(name: str) -> bool:
    return name in _tables(cache_key())


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def _analytics(source: str, account_id: str, campaign_id: int) -> dict[str, Any] | None:
    import uuid

    from murmur.domain.analytics import campaign_analytics

    return campaign_analytics(clickhouse(), uuid.UUID(account_id), campaign_id)


def analytics(account_id: str, campaign_id: int) -> dict[str, Any] | None:
    """The campaign analytics of the API (`murmur.domain.analytics`), cached."""
    return _analytics(cache_key(), account_id, campaign_id)
