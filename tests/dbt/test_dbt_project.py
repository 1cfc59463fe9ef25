"""`dbt build` of dbt_project/ (models, seeds, data tests, unit tests) on the local ClickHouse."""

from __future__ import annotations

import datetime as dt

import pytest
from clickhouse_connect.driver.client import Client

from murmur.analytics.replication import ensure_tables
from murmur.analytics.tables import SPECS
from pipelines.lib.dbt.partitions import partition_window_vars, vars_args
from tests.dbt.conftest import Dbt

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DAY = dt.datetime(2026, 11, 2, tzinfo=dt.UTC)


def test_dbt_build_passes_and_a_daily_window_rebuilds_only_its_days(ch: Client, dbt: Dbt) -> None:
    ensure_tables(ch, SPECS)
    columns = ["event_id", "type", "timestamp", "provider", "machine_open"]
    ch.insert(
        "events",
        [
            ["e-day1", "delivery", DAY + dt.timedelta(hours=1), "ses", False],
            ["e-day2", "delivery", DAY + dt.timedelta(days=1, hours=1), "ses", False],
        ],
        column_names=columns,
    )
    dbt("build")
    assert int(ch.command("select count() from fct_email_events")) == 2

    # a late event on day 1 and one on day 2: a window of day 1 takes only day 1's
    ch.insert(
        "events",
        [
            ["e-day1-late", "open", DAY + dt.timedelta(hours=5), "ses", True],
            ["e-day2-late", "open", DAY + dt.timedelta(days=1, hours=5), "ses", True],
        ],
        column_names=columns,
    )
    window = vars_args(partition_window_vars(DAY, DAY + dt.timedelta(days=1)))
    dbt("run", "--select", "tag:daily", *window)
    rows = ch.query("select event_id from fct_email_events order by event_id").result_rows
    assert [r[0] for r in rows] == ["e-day1", "e-day1-late", "e-day2"]
