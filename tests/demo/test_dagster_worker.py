"""The demo's Dagster worker on real services: both refreshes in one process, recorded runs.

`murmur demo` runs its two refreshes in one `python -m pipelines.defs.demo` child; here it runs
them against a fresh Postgres database and ClickHouse database of the session's servers, with
its own `DAGSTER_HOME` (SQLite), and the runs it recorded are read back from that instance.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from ingestion.consumer.schema import ddl
from murmur.clickhouse import get_client
from murmur.db.migrate import upgrade
from murmur.demo.dagster_runs import AFTER_SEND, BEFORE_SEND, JOBS, Worker
from murmur.settings import Settings
from tests.clickhouse_db import private_clickhouse
from tests.murmur.conftest import empty_db_url  # noqa: F401  (fixture)

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def settings(
    empty_db_url: str,  # noqa: F811
    clickhouse_url: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Settings]:
    state: Path = tmp_path_factory.mktemp("demo-worker")
    upgrade(empty_db_url)
    with private_clickhouse(empty_db_url, clickhouse_url, state) as found:
        client = get_client(found)
        for statement in ddl(found.clickhouse_database):  # the consumer's `events`, a dbt source
            client.command(statement)
        client.close()
        yield found


def _runs(home: Path) -> list[dg.DagsterRun]:
    with dg.DagsterInstance.from_config(str(home)) as instance:
        return list(reversed(instance.get_runs()))


def test_one_worker_runs_both_refreshes_as_recorded_runs_without_checks(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = settings.state_dir / "dagster"
    home.mkdir()
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    said: list[str] = []
    worker = Worker(settings)
    try:
        worker.refresh(settings, said.append, BEFORE_SEND)
        worker.refresh(settings, said.append, AFTER_SEND)
    finally:
        worker.close()
    assert worker.proc.returncode == 0
    text = "\n".join(said)
    assert "imported Dagster and dbt" in text and "loaded the code location" in text
    assert text.count("loaded the code location") == 1, text  # one load for both runs
    runs = _runs(home)
    assert [(r.job_name, r.status) for r in runs] == [
        (JOBS[BEFORE_SEND], dg.DagsterRunStatus.SUCCESS),
        (JOBS[AFTER_SEND], dg.DagsterRunStatus.SUCCESS),
    ]
    with dg.DagsterInstance.from_config(str(home)) as instance:
        for run, model in zip(runs, ("engaged_last_30_days", "campaign_performance")):
            records = instance.get_records_for_run(run.run_id).records
            types = [r.event_log_entry.dagster_event_type for r in records]
            keys = {
                r.event_log_entry.asset_materialization.asset_key.to_user_string()
                for r in records
                if r.event_log_entry.asset_materialization is not None
            }
            assert model in keys and "replication/raw_contacts" in keys
            evaluations = [r.event_log_entry.asset_check_evaluation for r in records]
            # only the check the replication asset evaluates as it writes: no dbt test, no GX
            names = {e.check_name for e in evaluations if e is not None}
            assert names == {"no_erased_contact_left"}, (names, types)
