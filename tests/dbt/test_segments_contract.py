"""SQL segment models: their dbt contract refuses a model that does not return the two columns.

The module copies dbt_project/ to a temp dir, adds segment models that need no upstream table
(one good, three broken) and runs them once on the local ClickHouse; each test reads one result.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import NamedTuple

import pytest
from clickhouse_connect.driver.client import Client
from dbt.cli.main import dbtRunner

from murmur.analytics.dbt_profile import write_profiles_dir
from murmur.settings import Settings

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PROJECT = Path(__file__).resolve().parents[2] / "dbt_project"
_YAML = """\
version: 2
models:
  - name: {name}
    description: A test segment.
    config:
      meta: {{account: "Test account", owner: tests}}
    columns:
      - {{name: account_id, data_type: UUID}}
      - {{name: contact_id, data_type: Int64}}
"""


_ACCOUNT = "toUUID('00000000-0000-0000-0000-00000000000a') as account_id"
MODELS = {
    "seg_ok": f"select {_ACCOUNT}, toInt64(number) as contact_id from numbers(3)",
    "seg_no_account": "select toInt64(1) as contact_id",
    "seg_text_id": f"select {_ACCOUNT}, toString(1) as contact_id",
    "seg_bare": "select toInt64(1) as contact_id",  # no YAML at all
}


class Outcome(NamedTuple):
    status: str
    message: str


@pytest.fixture(scope="module")
def outcomes(
    analytics_settings: Settings, ch: Client, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Outcome]:
    """`dbt run` of the four test segments in a copy of the project: model → outcome."""
    project = tmp_path_factory.mktemp("segments-contract") / "dbt_project"
    shutil.copytree(PROJECT, project, ignore=shutil.ignore_patterns("target", "logs"))
    segments = project / "models" / "segments"
    for name, sql in MODELS.items():
        (segments / f"{name}.sql").write_text(sql)
        if name != "seg_bare":
            (segments / f"{name}.yml").write_text(_YAML.format(name=name))
    result = dbtRunner().invoke(
        [
            "run",
            "--select",
            *MODELS,
            "--project-dir",
            str(project),
            "--profiles-dir",
            str(write_profiles_dir(analytics_settings)),
            "--no-send-anonymous-usage-stats",
            "--no-use-colors",
            "--quiet",
        ]
    )
    assert not result.success  # three models are broken on purpose
    runs = getattr(result.result, "results", None) or []
    found = {r.node.name: Outcome(str(r.status), str(r.message)) for r in runs}
    assert set(found) == set(MODELS), result.exception
    return found


def _table_exists(ch: Client, name: str) -> bool:
    return bool(
        ch.command(
            "select count() from system.tables where database = currentDatabase()"
            " and name = {n:String}",
            parameters={"n": name},
        )
    )


def test_a_segment_returning_both_columns_builds_as_a_table(
    outcomes: dict[str, Outcome], ch: Client
) -> None:
    assert outcomes["seg_ok"].status == "success", outcomes["seg_ok"].message
    rows = ch.query("select account_id, contact_id from seg_ok order by contact_id").result_rows
    assert [r[1] for r in rows] == [0, 1, 2]
    engine = ch.command(
        "select engine from system.tables where database = currentDatabase() and name = 'seg_ok'"
    )
    assert engine == "MergeTree"


def test_a_segment_missing_account_id_fails_its_contract_naming_the_column(
    outcomes: dict[str, Outcome], ch: Client
) -> None:
    status, message = outcomes["seg_no_account"]
    assert status == "error"
    assert "This model has an enforced contract that failed" in message
    [row] = [line for line in message.splitlines() if line.strip().startswith("| account_id")]
    assert "missing in definition" in row
    assert not _table_exists(ch, "seg_no_account")


def test_a_segment_with_a_wrong_type_fails_its_contract_naming_both_types(
    outcomes: dict[str, Outcome], ch: Client
) -> None:
    status, message = outcomes["seg_text_id"]
    assert status == "error"
    assert "enforced contract that failed" in message
    [row] = [line for line in message.splitlines() if line.strip().startswith("| contact_id")]
    assert "String" in row and "Int64" in row and "data type mismatch" in row
    assert not _table_exists(ch, "seg_text_id")


def test_a_segment_without_yaml_columns_fails_saying_the_columns_are_missing(
    outcomes: dict[str, Outcome], ch: Client
) -> None:
    status, message = outcomes["seg_bare"]
    assert status == "error"
    assert "enforced contract, and its 'columns' specification is missing" in message
    assert not _table_exists(ch, "seg_bare")
