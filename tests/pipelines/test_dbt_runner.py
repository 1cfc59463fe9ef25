"""dbt run in-process (pipelines/lib/dbt/runner.py): node results stream out, failures raise."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from clickhouse_connect.driver.client import Client

from murmur.analytics.dbt_profile import write_profiles_dir
from murmur.settings import Settings
from pipelines.defs.dbt.project import DBT_DIR
from pipelines.lib.dbt.runner import DbtInvocation, DbtRunError, dbt_args

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _args(settings: Settings, target: Path, command: str, *args: str) -> list[str]:
    profiles = write_profiles_dir(settings)
    return dbt_args(command, *args, project_dir=DBT_DIR, profiles_dir=profiles, target=target)


def test_a_seed_streams_its_result_and_a_failure_names_its_error(
    analytics_settings: Settings, ch: Client, tmp_path: Path
) -> None:
    seed = DbtInvocation(
        _args(analytics_settings, tmp_path, "seed"), results_path=tmp_path / "run_results.json"
    )
    events = list(seed.events())
    results = [e for e in events if e["info"]["name"] == "LogSeedResult"]
    assert [e["data"]["node_info"]["unique_id"] for e in results] == [
        "seed.murmuration.mailbox_providers"
    ]
    assert results[0]["data"]["status"] == "success"
    assert seed.result is not None and seed.errors == []
    assert int(ch.command("select count() from mailbox_providers")) > 0
    results = json.loads((tmp_path / "run_results.json").read_text())  # written for dbt
    assert [r["unique_id"] for r in results["results"]] == ["seed.murmuration.mailbox_providers"]
    assert not (tmp_path / "manifest.json").exists()  # megabytes of macros, not written

    broken = DbtInvocation(_args(analytics_settings, tmp_path, "run-operation", "no_such_macro"))
    with pytest.raises(DbtRunError, match="no_such_macro"):
        list(broken.events())
