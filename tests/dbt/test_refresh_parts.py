"""What a refresh's post-hooks leave behind: no part without a live row, no stale copy.

The keyed marts drop the rows they rebuilt (macros/refresh_keys.sql). The large ones use a
lightweight delete, then drop the parts left without a live row (`drop_dead_parts`); the small
ones copy the rows they keep and exchange the copy for the table (`rewrite_without`).
"""

from __future__ import annotations

import datetime as dt

import pytest
from clickhouse_connect.driver.client import Client

from murmur.analytics.replication import ensure_tables
from murmur.analytics.tables import SPECS
from tests.dbt.conftest import EVENT_COLUMNS, Dbt
from tests.dbt.test_incremental_refresh import MARTS, NOW, _build, _event, _first_history, _snapshot

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _dead_parts(ch: Client, table: str) -> set[str]:
    named = ch.query(
        "select name from system.parts where database = currentDatabase()"
        f" and table = '{table}' and active and rows > 0"
    ).result_rows
    live = ch.query(f"select _part from `{table}` group by _part").result_rows
    return {r[0] for r in named} - {r[0] for r in live}


def test_a_refresh_rebuilding_every_send_leaves_no_part_without_a_live_row(
    ch: Client, dbt: Dbt
) -> None:
    ensure_tables(ch, SPECS)
    _first_history(ch)
    _build(dbt)
    # a copy of one event of every send with events, ingested since: every send is rebuilt,
    # so every row of the first build's part is deleted
    again = NOW - dt.timedelta(minutes=30)
    day = [
        dt.datetime.combine(NOW.date(), dt.time(9), tzinfo=dt.UTC) - 2 * dt.timedelta(days=1),
        dt.datetime.combine(NOW.date(), dt.time(9), tzinfo=dt.UTC) - dt.timedelta(days=1),
    ]
    minute = dt.timedelta(minutes=1)
    today = dt.datetime.combine(NOW.date(), dt.time(0), tzinfo=dt.UTC)
    ch.insert(
        "events",
        [
            _event("e1", "delivery", day[0] + minute, 1, again),
            _event("e3", "delivery", day[0] + minute, 2, again),
            _event("e4", "bounce", day[0] + minute, 3, again, bounce_type="soft"),
            _event("e5", "delivery", day[1] + minute, 4, again),
            _event("e6", "open", day[1] + 2 * minute, 5, again, machine_open=True),
            _event("e7", "delivery", today + 2 * minute, 8, again),
        ],
        column_names=EVENT_COLUMNS,
    )
    _build(dbt)
    refreshed = _snapshot(ch)
    stamps = ch.query("select distinct built_at from int_email_sends__outcomes").result_rows
    assert len(stamps) == 1  # every send was rebuilt by the refresh
    for table in ("int_email_sends__outcomes", "fct_email_sends"):
        assert not _dead_parts(ch, table), table

    _build(dbt, "--full-refresh")
    full = _snapshot(ch)
    for table in MARTS:
        assert refreshed[table] == full[table], table


def test_a_copy_left_by_a_rewrite_stopped_after_its_exchange_is_dropped(
    ch: Client, dbt: Dbt
) -> None:
    # Regression: a run stopped between the exchange and the drop left `<model>__rewrite`
    # holding the old table (and its contact ids, which the erasure check then finds); only
    # the next rewrite replaced it, and a refresh without stale rows does not rewrite
    ensure_tables(ch, SPECS)
    _first_history(ch)
    _build(dbt)
    ch.command("create table contact_engagement__rewrite as contact_engagement")
    ch.command("insert into contact_engagement__rewrite select * from contact_engagement")

    _build(dbt)  # nothing new: no stale rows, no rewrite
    assert str(ch.command("exists table contact_engagement__rewrite")).strip() == "0"
