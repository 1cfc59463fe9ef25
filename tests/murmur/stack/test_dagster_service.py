"""The `dagster` stack service: `dagster dev` on the stack's Postgres, answering /server_info."""

from __future__ import annotations

import http.client
import json
from pathlib import Path

import psycopg
import pytest

from murmur.stack.dagster_service import Dagster
from murmur.stack.manager import ALL_SERVICES, STACK_UP_SERVICES, Stack
from murmur.stack.services import SERVICES

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_a_default_stack_never_starts_dagster_and_stack_up_starts_it_last() -> None:
    assert "dagster" not in ALL_SERVICES
    assert STACK_UP_SERVICES[-1] == "dagster"
    assert Stack(Path("/nonexistent")).names == list(ALL_SERVICES)


def test_dagster_starts_on_the_stacks_postgres_and_answers_server_info(tmp_path: Path) -> None:
    stack = Stack(tmp_path, ["postgres", "dagster"])
    try:
        statuses = {s.name: s for s in stack.up()}
        assert statuses["dagster"].healthy, stack.logs("dagster")
        url = statuses["dagster"].urls["dagster_url"]
        port = int(url.rsplit(":", 1)[1])
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", "/server_info")
        response = conn.getresponse()
        assert response.status == 200
        info = json.loads(response.read())
        assert info["dagster_webserver_version"] == info["dagster_version"]
        conn.close()

        # storage is the stack's `dagster` database: dagster created its tables there
        config = (tmp_path / "dagster" / "dagster.yaml").read_text()
        pg_url = statuses["postgres"].urls["dagster_postgres_url"]
        assert json.dumps(pg_url) in config
        with psycopg.connect(pg_url) as pg:
            tables = {r[0] for r in pg.execute("select tablename from pg_tables")}
        assert {"runs", "event_logs"} <= tables
        record = json.loads((tmp_path / "stack.json").read_text())
        assert record["urls"]["dagster_url"] == url
    finally:
        stack.down()
    assert stack.service("dagster").proc.pid() is None


def _prepared_without_postgres(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Dagster:
    """The dagster service with its home prepared (dagster.yaml written), SQLite storage."""
    monkeypatch.delenv("MURMUR_DAGSTER_POSTGRES_URL", raising=False)
    service = SERVICES["dagster"](tmp_path, 0)
    assert isinstance(service, Dagster)
    service.prepare()
    return service


def test_without_postgres_dagster_uses_sqlite_under_its_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = _prepared_without_postgres(tmp_path, monkeypatch)
    config = (tmp_path / "dagster" / "dagster.yaml").read_text()
    assert "postgres" not in config
    assert service.environ()["DAGSTER_HOME"] == str(tmp_path / "dagster")


def test_the_run_queue_is_looked_at_every_2_s_and_launches_in_parallel(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Regression: the instance had Dagster's default queue, looked at every 5 s and launching
    # one run at a time, each launch waiting for its run worker to start (9-10 s under load),
    # so a campaign's second shard started that much after its first.
    import dagster as dg
    from dagster._core.run_coordinator import QueuedRunCoordinator

    service = _prepared_without_postgres(tmp_path, monkeypatch)
    with dg.DagsterInstance.from_config(str(service.home)) as instance:
        coordinator = instance.run_coordinator
        assert isinstance(coordinator, QueuedRunCoordinator)
        assert coordinator.dequeue_interval_seconds == 2
        assert coordinator.dequeue_use_threads
        assert coordinator.dequeue_num_workers == 4
