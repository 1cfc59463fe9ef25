"""What dbt sends the server before any model: nothing the project does not need.

Regression: dbt-clickhouse probed, on the first connection of each process running dbt,
whether the database can EXCHANGE TABLES: it created, exchanged and dropped two
`__dbt_exchange_test_*` tables, five DDL statements (0.25-0.3 s on the local server) before the
scheduled refresh's first model. The profile turns the probe off (`check_exchange: false`): the
marts' refresh exchanges tables itself, so the project needs a database engine that can anyway.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from clickhouse_connect.driver.client import Client
from dbt.adapters.clickhouse import dbclient

from tests.dbt.conftest import Dbt

pytestmark = [pytest.mark.integration]


def _probe_tables(ch: Client) -> int:
    """The probe's tables, dropped or not (an Atomic database keeps dropped ones a while)."""
    prefix = "'__dbt_exchange_test'"
    live = ch.command(
        f"select count() from system.tables where database = currentDatabase()"
        f" and startsWith(name, {prefix})"
    )
    dropped = ch.command(
        f"select count() from system.dropped_tables where database = currentDatabase()"
        f" and startsWith(`table`, {prefix})"
    )
    return int(str(live)) + int(str(dropped))


def test_a_dbt_invocation_does_not_probe_exchange_tables(
    dbt: Dbt, ch: Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # dbt-clickhouse keeps the probe's answer for the process: forget an earlier test's
    monkeypatch.setattr(dbclient, "_exchange_result", None)
    before = _probe_tables(ch)
    dbt("show", "--inline", "select 1 as one")
    log = (tmp_path / "logs" / "dbt.log").read_text()
    assert "select 1 as one" in log  # the invocation reached the server
    assert _probe_tables(ch) == before
