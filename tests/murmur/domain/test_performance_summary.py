"""`performance_summary`: the printable campaign row, read from a real ClickHouse mart table.

The table has the columns dbt builds for `campaign_performance` that the summary reads, and
known rows, so the printed text is known exactly.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator

import pytest
from clickhouse_connect.driver.client import Client

from murmur.clickhouse import ensure_database, get_client
from murmur.domain.analytics import format_performance, performance_summary
from murmur.settings import get_settings

_DDL = """create table campaign_performance (
    account_id UUID, campaign_id Int64, campaign_name Nullable(String), sends UInt64,
    delivered UInt64, bounced UInt64, unique_opens UInt64, unique_human_opens UInt64,
    unique_clicks UInt64, complained UInt64, unsubscribed UInt64,
    delivery_rate Nullable(Float64), bounce_rate Nullable(Float64), open_rate Nullable(Float64),
    human_open_rate Nullable(Float64), click_rate Nullable(Float64),
    complaint_rate Nullable(Float64), unsubscribe_rate Nullable(Float64),
    refreshed_at DateTime64(3, 'UTC')
) engine = MergeTree order by (account_id, campaign_id)"""
ACCOUNT, OTHER = uuid.uuid4(), uuid.uuid4()
REFRESHED = dt.datetime(2026, 11, 30, 12, 5, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def ch(clickhouse_url: str) -> Iterator[Client]:
    settings = get_settings(
        clickhouse_url=clickhouse_url, clickhouse_database=f"t_{uuid.uuid4().hex[:12]}"
    )
    ensure_database(settings)
    client = get_client(settings)
    client.command(_DDL)
    row = [ACCOUNT, 7, "November news", 200, 190, 10, 95, 76, 19, 1, 2]
    rates = [0.95, 0.05, 0.5, 0.4, 0.1, 1 / 190, 2 / 190]
    client.insert("campaign_performance", [[*row, *rates, REFRESHED]])
    yield client
    client.command(f"drop database if exists `{settings.clickhouse_database}` sync")
    client.close()


@pytest.mark.integration
def test_the_summary_prints_counts_and_rates_of_the_campaign(ch: Client) -> None:
    text = performance_summary(ch, ACCOUNT, 7)
    assert text == (
        "November news: sends 200, delivered 190, opens 95, human opens 76, clicks 19,"
        " bounced 10, complaints 1, unsubscribes 2\n"
        "  rates: delivery 95.0%, open 50.0%, human open 40.0%, click 10.0%, bounce 5.0%,"
        " complaint 0.5%, unsubscribe 1.1% (marts refreshed 2026-11-30T12:05:00+00:00)"
    )


@pytest.mark.integration
def test_another_accounts_campaign_or_a_missing_one_has_no_summary(ch: Client) -> None:
    assert performance_summary(ch, OTHER, 7) is None
    assert performance_summary(ch, ACCOUNT, 8) is None


@pytest.mark.unit
def test_rates_without_a_denominator_print_as_not_available() -> None:
    text = format_performance({"campaign_id": 3, "sends": 0, "delivery_rate": None})
    assert text.startswith("campaign 3: sends 0, delivered 0,")
    assert "delivery n/a" in text
    assert "refreshed" not in text
