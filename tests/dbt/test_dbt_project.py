"""`dbt build` of dbt_project/ (models, seeds, data tests, unit tests) on the local ClickHouse."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from clickhouse_connect.driver.client import Client
from dbt.cli.main import dbtRunner

from murmur.analytics.dbt_profile import write_profiles_dir
from murmur.analytics.replication import ensure_tables
from murmur.analytics.tables import SPECS
from murmur.settings import Settings
from pipelines.lib.dbt.partitions import partition_window_vars, vars_args

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PROJECT = Path(__file__).resolve().parents[2] / "dbt_project"
DAY = dt.datetime(2026, 11, 2, tzinfo=dt.UTC)


def _dbt(settings: Settings, work: Path, *args: str) -> None:
    profiles = write_profiles_dir(settings)
    result = dbtRunner().invoke(
        [
            *args,
            "--project-dir",
            str(PROJECT),
            "--profiles-dir",
            str(profiles),
            "--target-path",
            str(work / "target"),
            "--log-path",
            str(work / "logs"),
            "--no-send-anonymous-usage-stats",
            "--no-use-colors",
        ]
    )
    assert result.success, f"dbt {' '.join(args)} failed: {result.exception}"


def test_dbt_build_passes_and_a_daily_window_rebuilds_only_its_days(
    analytics_settings: Settings, ch: Client, tmp_path: Path
) -> None:
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
    _dbt(analytics_settings, tmp_path, "build")
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
    _dbt(analytics_settings, tmp_path, "run", "--select", "tag:daily", *window)
    rows = ch.query("select event_id from fct_email_events order by event_id").result_rows
    assert [r[0] for r in rows] == ["e-day1", "e-day1-late", "e-day2"]
