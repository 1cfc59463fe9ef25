"""`murmur ingestion status` shows the consumer's counters from its status file, holes included."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ingestion.consumer.stats import Stats, write_status
from murmur.ingestion_status import IngestionStatus, collect, consumer_counters, render
from murmur.settings import get_settings
from tests.ingestion.conftest import REPO


def _status_file(path: Path) -> Path:
    """A status file as the consumer writes it: two roles, the events one with holes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    events = Stats("events", consumed=120, written=100, duplicates=15, dead_lettered=5)
    events.late_batches, events.skipped_offsets, events.rewinds = 2, 7, 1
    write_status(path, events)
    write_status(path, Stats("feedback", consumed=120, written=3))
    return path


@pytest.mark.unit
def test_the_hole_counters_of_each_role_are_read_and_shown(tmp_path: Path) -> None:
    # Regression: `murmur ingestion status` showed no late_batches / skipped_offsets / rewinds,
    # though the consumer's status file has them (skipped offsets are events never stored)
    path = _status_file(tmp_path / "consumer.status.json")
    counters = {c.role: c for c in consumer_counters(path)}
    assert set(counters) == {"events", "feedback"}
    events = counters["events"]
    assert events.pid == os.getpid() and events.running and events.updated_at is not None
    assert events.counters["late_batches"] == 2
    assert events.counters["skipped_offsets"] == 7
    assert events.counters["rewinds"] == 1
    assert events.counters["written"] == 100 and events.counters["dead_lettered"] == 5
    assert counters["feedback"].counters["skipped_offsets"] == 0

    text = render(IngestionStatus(consumers=list(counters.values()), status_file=str(path)))
    assert f"consumer events (pid {os.getpid()}, running" in text
    assert "late_batches=2 skipped_offsets=7 rewinds=1" in text
    assert "consumer feedback" in text


@pytest.mark.unit
def test_a_missing_status_file_is_no_error_and_a_broken_one_is_named(tmp_path: Path) -> None:
    settings = get_settings(kafka_bootstrap_servers=None, clickhouse_url="http://127.0.0.1:9")
    absent = tmp_path / "absent.json"
    status = collect(settings, [], status_file=absent)
    assert status.consumers == [] and status.status_file == str(absent)
    assert not any("status file" in e for e in status.errors), status.errors
    assert f"no status file at {absent}" in render(status)

    broken = tmp_path / "broken.json"
    broken.write_text("[1, 2")
    status = collect(settings, [], status_file=broken)
    assert any(f"consumer status file {broken}" in e for e in status.errors), status.errors


@pytest.mark.integration
def test_the_cli_prints_the_counters_in_json_and_text(
    tmp_path: Path, consumer_env: dict[str, str]
) -> None:
    path = _status_file(tmp_path / "consumer.status.json")
    argv = [sys.executable, "-m", "murmur", "ingestion", "status", "--group", "status-test"]
    argv += ["--status-file", str(path)]
    done = subprocess.run(
        [*argv, "--json"], env=consumer_env, capture_output=True, text=True, timeout=60, cwd=REPO
    )
    status = json.loads(done.stdout)
    by_role = {c["role"]: c for c in status["consumers"]}
    assert by_role["events"]["counters"]["late_batches"] == 2, status
    assert by_role["events"]["counters"]["skipped_offsets"] == 7
    assert by_role["events"]["counters"]["rewinds"] == 1
    assert status["status_file"] == str(path)
    text = subprocess.run(argv, env=consumer_env, capture_output=True, text=True, timeout=60)
    assert "late_batches=2 skipped_offsets=7 rewinds=1" in text.stdout, text.stdout + text.stderr


@pytest.mark.integration
def test_the_default_status_file_is_the_local_stacks(
    tmp_path: Path, consumer_env: dict[str, str]
) -> None:
    state = Path(consumer_env["MURMUR_STATE_DIR"])
    path = _status_file(state / "run" / "consumer.status.json")
    argv = [sys.executable, "-m", "murmur", "ingestion", "status", "--json", "--group", "x"]
    done = subprocess.run(argv, env=consumer_env, capture_output=True, text=True, timeout=60)
    status = json.loads(done.stdout)
    assert status["status_file"] == str(path), status
    assert {c["role"] for c in status["consumers"]} == {"events", "feedback"}
