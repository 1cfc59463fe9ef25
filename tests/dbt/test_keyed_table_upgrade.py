"""A keyed mart whose table predates a column of the model is refreshed, not left failing.

contact_engagement (and the two rollups) were plain tables before they were rebuilt per key
with a `built_at` stamp; the hourly rollup gained measures later. A plain `dbt build` over such
a table used to fail (the model's insert names the table's columns, one fewer than the model's)
until someone ran `--full-refresh`. The refresh adds the missing columns and rebuilds every
key, so the table then holds exactly what a full build holds.
"""

from __future__ import annotations

from typing import Any

import pytest
from clickhouse_connect.driver.client import Client

from murmur.analytics.replication import ensure_tables
from murmur.analytics.tables import SPECS
from tests.dbt.conftest import Dbt
from tests.dbt.test_incremental_refresh import MARTS, _build, _first_history, _snapshot

pytestmark = [pytest.mark.integration, pytest.mark.slow]

# per mart: the columns its table lacked before (the hourly rollup's measures came later)
OLDER_TABLES = {
    "contact_engagement": ["built_at"],
    "deliverability_by_mailbox_provider": ["built_at"],
    "campaign_performance_hourly": ["total_clicks", "first_sent_at", "last_sent_at", "built_at"],
}


def _stamps(ch: Client, table: str) -> list[Any]:
    return [r[0] for r in ch.query(f"select distinct built_at from `{table}`").result_rows]


def test_a_plain_build_over_tables_built_before_their_columns_existed(ch: Client, dbt: Dbt) -> None:
    # Regression: an existing contact_engagement without `built_at` made `dbt build` fail
    # ("Number of columns doesn't match" in its insert) until --full-refresh
    ensure_tables(ch, SPECS)
    _first_history(ch)
    _build(dbt)
    built = _snapshot(ch)
    for table, columns in OLDER_TABLES.items():
        for column in columns:
            ch.command(f"alter table `{table}` drop column `{column}`")

    _build(dbt)
    upgraded = _snapshot(ch)
    for table in OLDER_TABLES:
        assert upgraded[table] == built[table], table
        names = [r[0] for r in ch.query(f"describe table `{table}`").result_rows]
        assert names[-1] == "built_at", table  # in the model's place, so inserts line up
        assert len(_stamps(ch, table)) == 1, table  # every row rebuilt by this refresh

    _build(dbt, "--full-refresh")
    full = _snapshot(ch)
    for table in MARTS:
        assert full[table] == upgraded[table], table
