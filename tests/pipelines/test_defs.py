import subprocess
import sys
from pathlib import Path

import dagster as dg

from pipelines.definitions import defs


def test_definitions_load_and_expose_the_roundtrip_asset() -> None:
    keys = {key.to_user_string() for key in defs.resolve_asset_graph().get_all_asset_keys()}
    assert "service_roundtrip" in keys
    assert isinstance(defs, dg.Definitions)


def test_the_workspace_file_loads_the_code_location() -> None:
    repo = Path(__file__).resolve().parents[2]
    dagster = Path(sys.executable).with_name("dagster")
    done = subprocess.run(
        [str(dagster), "definitions", "validate", "-w", "workspace.yaml"],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Validation successful for code location murmuration" in done.stderr + done.stdout


def test_the_refresh_runs_no_great_expectations_suite_and_their_own_job_does() -> None:
    # Regression: the 5-minute analytics_refresh ran the contacts suite (GX import 10-35 s)
    def checks(job: str) -> set[str]:
        graph = defs.resolve_job_def(job).asset_layer.asset_graph
        return {key.name for key in graph.asset_check_keys}

    refresh = checks("analytics_refresh")
    assert "no_erased_contact_left" in refresh
    assert not refresh & {"contacts_expectations", "events_expectations"}
    assert checks("analytics_expectations") == {"contacts_expectations", "events_expectations"}


def test_the_refresh_runs_the_marts_tests_and_the_hourly_job_those_of_staging_and_sources() -> None:
    def checks(job: str) -> set[str]:
        graph = defs.resolve_job_def(job).asset_layer.asset_graph
        return {key.name for key in graph.asset_check_keys}

    refresh, hourly = checks("analytics_refresh"), checks("analytics_dbt_checks")
    assert "unique_fct_email_sends_email_record_id" in refresh
    assert "unique_campaign_performance_campaign_id" in refresh
    assert "unique_stg_postgres__emails_email_record_id" in hourly
    assert "unique_int_email_sends__outcomes_email_record_id" in hourly
    assert "source_not_null_postgres_raw_accounts_account_id" in hourly
    assert not refresh & hourly
    assert not any(name.startswith(("unique_fct", "not_null_fct")) for name in hourly)


def test_the_analytics_jobs_run_their_steps_in_one_process() -> None:
    # a step process per step imports the whole code location again
    for job in ("analytics_refresh", "analytics_expectations", "analytics_dbt_checks"):
        assert defs.resolve_job_def(job).executor_def.name == "in_process", job
