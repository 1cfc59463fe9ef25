"""dbt-clickhouse, unchanged, against the server behind `ch_url`."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from clickhouse_connect.driver.client import Client
from dbt.cli.main import dbtRunner

from tests.murmur.chserver.conftest import client_kwargs

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PROJECT = Path(__file__).parent / "dbt_contract"
SEED_ROWS = 20
EXPECTED = {
    "raw_events": SEED_ROWS,
    "fct_events": SEED_ROWS,
    "account_summary": 3,
    "inc_default": SEED_ROWS,
    "inc_delete_insert": SEED_ROWS,
    "inc_append": SEED_ROWS,
    "inc_insert_overwrite": SEED_ROWS,
    "events_snapshot": SEED_ROWS,
    "stg_events": SEED_ROWS,
}


def _profiles(ch_url: str, schema: str) -> str:
    kw = client_kwargs(ch_url)
    return f"""
chserver_contract:
  target: local
  outputs:
    local:
      type: clickhouse
      driver: http
      host: "{kw["host"]}"
      port: {kw["port"]}
      user: "{kw["username"]}"
      password: "{kw["password"]}"
      secure: {str(kw["secure"]).lower()}
      schema: "{schema}"
      threads: 4
      connect_timeout: 10
      send_receive_timeout: 300
"""


def _dbt(work: Path, *args: str) -> None:
    project = work / "project"
    result = dbtRunner().invoke(
        [
            *args,
            "--project-dir",
            str(project),
            "--profiles-dir",
            str(work),
            "--target-path",
            str(work / "target"),
            "--log-path",
            str(work / "logs"),
            "--no-send-anonymous-usage-stats",
            "--no-use-colors",
        ]
    )
    assert result.success, f"dbt {' '.join(args)} failed: {result.exception}"


def _counts(client: Client, schema: str) -> dict[str, int]:
    return {name: int(client.command(f"SELECT count() FROM {schema}.{name}")) for name in EXPECTED}


def test_dbt_build_twice_and_full_refresh(
    ch_url: str, tmp_path: Path, make_client: Callable[..., Client]
) -> None:
    schema = f"dbt_{uuid.uuid4().hex[:10]}"
    shutil.copytree(PROJECT, tmp_path / "project")
    (tmp_path / "profiles.yml").write_text(_profiles(ch_url, schema))
    client = make_client()
    try:
        _dbt(tmp_path, "build")
        assert _counts(client, schema) == EXPECTED
        _dbt(tmp_path, "build")
        assert _counts(client, schema) == EXPECTED
        _dbt(tmp_path, "build", "--full-refresh")
        assert _counts(client, schema) == EXPECTED
        engine = client.command(
            f"SELECT engine FROM system.tables WHERE database = '{schema}' AND name = 'stg_events'"
        )
        assert engine == "View"
    finally:
        client.command(f"DROP DATABASE IF EXISTS {schema} SYNC")
