from __future__ import annotations

from pathlib import Path

import pytest

from murmur.demo import run
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


@pytest.mark.e2e
def test_demo_reports_a_failing_service_without_stopping_the_others(
    stack_dir: Path, postgres_url: str, kafka_bootstrap: str, smtp_url: str
) -> None:
    lines: list[str] = []
    settings = get_settings(state_dir=stack_dir, clickhouse_url="http://127.0.0.1:1")
    assert not run(settings, say=lines.append)
    clickhouse = next(line for line in lines if line.split()[:1] == ["clickhouse"])
    assert "FAILED" in clickhouse
    assert "[tried http://127.0.0.1:1 from MURMUR_CLICKHOUSE_URL]" in clickhouse
    assert any(line.split()[:2] == ["smtp", "ok"] for line in lines)


@pytest.mark.e2e
def test_demo_skips_the_walkthrough_on_a_configured_database(
    stack_dir: Path, postgres_url: str, clickhouse_url: str, kafka_bootstrap: str, smtp_url: str
) -> None:
    lines: list[str] = []
    settings = get_settings(state_dir=stack_dir, postgres_url=postgres_url)
    assert run(settings, say=lines.append)
    assert any("walkthrough skipped: MURMUR_POSTGRES_URL" in line for line in lines)
    assert not any("campaign    scheduled" in line for line in lines)
