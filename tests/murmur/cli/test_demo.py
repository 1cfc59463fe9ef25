"""`murmur demo`: the round trip, then the walkthrough against a served API."""

from __future__ import annotations

import os
from pathlib import Path

import psutil
import pytest

from murmur.cli import main
from murmur.cli.demo import demo, run, walkthrough
from murmur.settings import get_settings


@pytest.mark.e2e
def test_demo_round_trip_passes_through_every_local_service(
    stack_dir: Path, postgres_url: str, clickhouse_url: str, kafka_bootstrap: str, smtp_url: str
) -> None:
    lines: list[str] = []
    ok = run(get_settings(state_dir=stack_dir), say=lines.append)
    report = "\n".join(lines)
    assert ok, report
    for service in ("postgres", "kafka", "clickhouse", "smtp"):
        assert any(line.split()[:2] == [service, "ok"] for line in lines), report
    assert "read it back from" in report
    assert "import      succeeded 5000 rows" in report
    assert "10 duplicates, 10 rejected" in report  # the planted mistakes
    assert "campaign    scheduled" in report
    assert "served by `murmur api serve`" in report


@pytest.mark.e2e
def test_the_walkthrough_runs_against_a_served_api_and_reports_a_finished_import(
    stack_dir: Path, postgres_url: str
) -> None:
    # Regression: the walkthrough ran the app in-process through FastAPI's TestClient, which
    # runs background tasks before returning, so "succeeded" was never a polled job status.
    lines: list[str] = []
    settings = get_settings(state_dir=stack_dir, postgres_url=postgres_url)
    done = walkthrough(settings, lines.append, rows=600)
    report = "\n".join(lines)
    assert done.api.pid != os.getpid()
    assert not psutil.pid_exists(done.api.pid), "the API process was left running"
    log = done.api.log.read_text()
    assert f"Uvicorn running on {done.api.base_url.removesuffix('/api/v1')}" in log
    assert '"POST /api/v1/contacts/import HTTP/1.1" 202' in log
    assert f'"GET /api/v1/contacts/imports/{done.import_job["import_id"]} HTTP/1.1" 200' in log
    job = done.import_job
    assert job["status"] == "succeeded", job
    assert job["finished_at"] is not None and job["error"] is None
    assert job["processed_rows"] == job["total_rows"] == 600
    assert (job["duplicates"], job["error_rows"]) == (1, 1)
    assert done.campaign["status"] == "scheduled"
    assert "import      succeeded 600 rows" in report
    assert f"api         stopped   (pid {done.api.pid})" in report


@pytest.mark.e2e
def test_demo_reports_a_failing_service_without_stopping_the_others(
    stack_dir: Path, postgres_url: str, kafka_bootstrap: str, smtp_url: str
) -> None:
    lines: list[str] = []
    settings = get_settings(state_dir=stack_dir, clickhouse_url="http://127.0.0.1:1")
    assert demo(settings, say=lines.append) == 1  # a failure, not a configuration error
    clickhouse = next(line for line in lines if line.split()[:1] == ["clickhouse"])
    assert "FAILED" in clickhouse
    assert "[tried http://127.0.0.1:1 from MURMUR_CLICKHOUSE_URL]" in clickhouse
    assert any(line.split()[:2] == ["smtp", "ok"] for line in lines)
    assert not any("walkthrough" in line for line in lines)


@pytest.mark.e2e
def test_demo_skips_the_walkthrough_on_a_configured_database(
    stack_dir: Path, postgres_url: str, clickhouse_url: str, kafka_bootstrap: str, smtp_url: str
) -> None:
    lines: list[str] = []
    settings = get_settings(state_dir=stack_dir, postgres_url=postgres_url)
    assert run(settings, say=lines.append)
    assert any("walkthrough skipped: MURMUR_POSTGRES_URL" in line for line in lines)
    assert not any("campaign    scheduled" in line for line in lines)


def test_demo_without_any_service_configured_is_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for var in ("POSTGRES_URL", "CLICKHOUSE_URL", "KAFKA_BOOTSTRAP_SERVERS", "SMTP_URL"):
        monkeypatch.delenv(f"MURMUR_{var}", raising=False)
    monkeypatch.setenv("MURMUR_STATE_DIR", str(tmp_path))
    assert main(["demo"]) == 2
    out = capsys.readouterr().out
    assert "MURMUR_SMTP_URL is not set" in out and "round trip FAILED" in out
