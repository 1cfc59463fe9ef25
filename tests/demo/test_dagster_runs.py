"""The demo's Dagster runs: what each refresh selects in the real code location, and its output."""

from __future__ import annotations

import io
from pathlib import Path

import dagster as dg
import pytest

from murmur.demo.dagster_runs import AFTER_SEND, BEFORE_SEND, JOBS, MARK, RunProgress
from pipelines.definitions import defs
from pipelines.defs.demo import demo_job, serve
from pipelines.defs.sending.definitions import JOB

pytestmark = pytest.mark.unit


def _selected(stage: str) -> set[str]:
    job = defs.resolve_job_def(JOBS[stage])
    return {key.to_user_string() for key in job.asset_layer.selected_asset_keys}


def _checks(stage: str) -> set[str]:
    selection = demo_job(stage).selection
    return {key.to_user_string() for key in selection.resolve_checks(defs.resolve_asset_graph())}


def test_before_the_send_one_run_covers_replication_every_dbt_model_and_the_sql_segments() -> None:
    selected = _selected(BEFORE_SEND)
    graph = defs.resolve_asset_graph()
    groups = {"replication", "analytics"}
    in_groups = {
        key.to_user_string()
        for key in graph.get_all_asset_keys()
        if graph.get(key).group_name in groups
    }
    assert in_groups and in_groups <= selected
    assert "segment_membership/engaged_last_30_days" in selected
    assert "engaged_last_30_days" in selected  # the SQL segment's dbt model
    # partitioned assets cannot share the run, and the send is the sensor's job
    for absent in ("criteria_segments", "fct_email_events", "campaign_send", "ingestion/events"):
        assert absent not in selected


def test_after_the_send_the_run_covers_the_marts_the_summary_and_dashboards_read() -> None:
    selected = _selected(AFTER_SEND)
    assert {
        "replication/raw_emails",
        "replication/raw_contact_pii",  # the replication asset is not subsettable
        "stg_ingestion__email_events",
        "fct_email_sends",
        "campaign_performance",
        "campaign_performance_hourly",
        "deliverability_by_mailbox_provider",
    } <= selected
    for absent in (
        "contact_engagement",  # contacts, not the campaign: kept from before the send
        "segment_membership/engaged_last_30_days",
        "ingestion/events",
        "campaign_send",
    ):
        assert absent not in selected


@pytest.mark.parametrize("stage", [BEFORE_SEND, AFTER_SEND])
def test_the_demo_jobs_run_in_process_and_evaluate_only_the_inline_replication_check(
    stage: str,
) -> None:
    job = defs.resolve_job_def(JOBS[stage])
    assert job.executor_def.name == dg.in_process_executor.name
    # no dbt tests, no Great Expectations suite; the replication asset cannot run without its own
    assert _checks(stage) == {"replication/raw_contacts:no_erased_contact_left"}


def test_the_worker_says_it_is_warm_and_answers_each_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MURMUR_STATE_DIR", str(tmp_path))  # no stack there: no parse ahead
    monkeypatch.delenv("MURMUR_CLICKHOUSE_URL", raising=False)
    out = io.StringIO()
    assert serve(["\n", "no_such_job\n"], out) == 0
    lines = out.getvalue().splitlines()
    assert lines[0].startswith(f"{MARK} warm ")
    assert lines[1:] == [f"{MARK} done no_such_job unknown"]


def test_the_send_job_runs_its_two_steps_in_the_run_process() -> None:
    job = defs.resolve_job_def(JOB)
    assert job.executor_def.name == dg.in_process_executor.name


def test_run_progress_says_the_steps_and_counts_materializations_and_checks() -> None:
    said: list[str] = []
    progress = RunProgress(said.append)
    prefix = "2026-12-02 05:00:00 +0000 - dagster - DEBUG - __ASSET_JOB - 1b2c - 4242 - "
    progress.line(prefix + 'STEP_START - Started execution of step "postgres_replication".')
    for model in ("stg_postgres__emails", "fct_email_sends", "campaign_performance"):
        progress.line(prefix + f'ASSET_MATERIALIZATION - Materialized value "{model}".')
    check = prefix + "analytics_dbt_models - ASSET_CHECK_EVALUATION - Asset check "
    # Regression: a passing accepted_values check named after the ledger states (…__failed__…)
    # was counted as failed
    progress.line(check + "'accepted_values_emails_status__sent__failed' on 'emails' passed.")
    progress.line(check + "'not_null_x' on 'x' did not pass.")
    progress.line(prefix + 'RUN_SUCCESS - Finished execution of run for "__ASSET_JOB".')
    assert (progress.materialized, progress.checks, progress.failed_checks) == (3, 2, 1)
    assert any("STEP_START" in line and "postgres_replication" in line for line in said)
    assert any("RUN_SUCCESS" in line for line in said)
    assert any(line.endswith("so far") for line in said)  # the first count is said at once
    assert progress.summary() == "3 assets materialized, 2 checks (1 failed)"
