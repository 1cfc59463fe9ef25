"""Jobs left queued/running by a stopped API process are marked failed (startup or status poll);
a job whose import still holds its lock, or whose heartbeat is recent, is left alone."""

from __future__ import annotations

import uuid
from datetime import datetime
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient

from murmur.api.app import create_app
from murmur.contacts_import import jobs, store
from murmur.contacts_import.reader import CsvFile, preflight
from murmur.settings import Settings
from tests.murmur.conftest import MakeAccount, auth

pytestmark = pytest.mark.integration


def _job(url: str, account: uuid.UUID, status: str, minutes_ago: int) -> uuid.UUID:
    """A job row as a stopped process leaves it: last heartbeat `minutes_ago`."""
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "insert into import_jobs (account_id, actor, status, started_at, updated_at)"
            " values (%s, 'test', %s, now() - make_interval(mins => %s),"
            " now() - make_interval(mins => %s)) returning import_id",
            (account, status, minutes_ago, minutes_ago),
        ).fetchone()
    assert row is not None
    return uuid.UUID(str(row[0]))


def _status(url: str, import_id: uuid.UUID) -> tuple[str, str | None]:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "select status, error from import_jobs where import_id = %s", (import_id,)
        ).fetchone()
    assert row is not None
    return row[0], row[1]


def test_polling_a_stale_job_marks_it_failed_but_leaves_live_ones_alone(
    api_client: TestClient, make_account: MakeAccount, migrated_db_url: str
) -> None:
    account, key = make_account("viewer")
    stale, queued = (
        _job(migrated_db_url, account, "running", 11),
        _job(migrated_db_url, account, "queued", 30),
    )
    fresh, locked = (
        _job(migrated_db_url, account, "running", 2),
        _job(migrated_db_url, account, "running", 60),
    )
    with psycopg.connect(migrated_db_url) as importer:  # an import still at work on `locked`
        store.lock_job(importer, locked)
        for import_id in (stale, queued, fresh, locked):
            got = api_client.get(f"/api/v1/contacts/imports/{import_id}", headers=auth(key))
            assert got.status_code == 200
        assert _status(migrated_db_url, locked) == ("running", None)
        importer.rollback()  # the import's connection is gone: its lock with it
    job = api_client.get(f"/api/v1/contacts/imports/{stale}", headers=auth(key)).json()
    assert job["status"] == "failed"
    assert job["error"] == "interrupted (the API process stopped); upload the file again"
    assert job["finished_at"] is not None
    assert _status(migrated_db_url, queued) == ("failed", store.INTERRUPTED)
    assert _status(migrated_db_url, fresh) == ("running", None)
    api_client.get(f"/api/v1/contacts/imports/{locked}", headers=auth(key))
    assert _status(migrated_db_url, locked) == ("failed", store.INTERRUPTED)


def test_polling_never_touches_another_accounts_jobs(
    api_client: TestClient, make_account: MakeAccount, migrated_db_url: str
) -> None:
    owner, _ = make_account("viewer")
    _, other_key = make_account("viewer")
    theirs = _job(migrated_db_url, owner, "running", 45)
    got = api_client.get(f"/api/v1/contacts/imports/{theirs}", headers=auth(other_key))
    assert got.status_code == 404
    assert _status(migrated_db_url, theirs) == ("running", None)


def test_api_startup_marks_stale_jobs_of_every_account_failed(
    make_account: MakeAccount, migrated_db_url: str, api_settings: Settings
) -> None:
    one, two = make_account("viewer")[0], make_account("viewer")[0]
    stale = [_job(migrated_db_url, one, "running", 20), _job(migrated_db_url, two, "queued", 20)]
    fresh = _job(migrated_db_url, one, "running", 1)
    app = create_app(api_settings)
    try:
        with TestClient(app):
            pass
    finally:
        app.state.engine.dispose()
    assert [_status(migrated_db_url, i) for i in stale] == [("failed", store.INTERRUPTED)] * 2
    assert _status(migrated_db_url, fresh) == ("running", None)


def test_an_import_whose_job_was_failed_meanwhile_rolls_back(
    make_account: MakeAccount, migrated_db_url: str, tmp_path: Path
) -> None:
    account, _ = make_account("editor")
    path = tmp_path / "c.csv"
    path.write_bytes(b"email\nlate@example.com\n")
    csv_file = preflight(path)
    with (
        psycopg.connect(migrated_db_url, autocommit=True) as conn,
        psycopg.connect(migrated_db_url, autocommit=True) as status_conn,
    ):
        import_id = jobs.queue_job(conn, account, csv_file, "test", "c.csv")
        store.mark_failed(status_conn, account, import_id, store.INTERRUPTED)
        assert jobs.execute_job(conn, status_conn, import_id, account, csv_file, "test") is None
        count = conn.execute(
            "select count(*) from contacts where account_id = %s", (account,)
        ).fetchone()
    assert count == (0,)
    assert _status(migrated_db_url, import_id)[0] == "failed"


def test_job_writes_and_the_error_report_are_scoped_by_account(
    api_client: TestClient, make_account: MakeAccount, migrated_db_url: str
) -> None:
    account, key = make_account("editor")
    other, _ = make_account("editor")
    data = b"email\nbad-address\n"
    job = api_client.post(
        "/api/v1/contacts/import", headers=auth(key), files={"file": ("c.csv", data, "text/csv")}
    ).json()
    import_id = uuid.UUID(job["import_id"])
    with psycopg.connect(migrated_db_url, autocommit=True) as conn:
        store.mark_failed(conn, other, import_id, "not yours")
        store.job_progress_writer(conn, other, import_id)(99, 99)
        mine = b"".join(store.iter_error_report(conn, import_id, account_id=account))
        theirs = b"".join(store.iter_error_report(conn, import_id, account_id=other))
    assert _status(migrated_db_url, import_id) == ("succeeded", None)
    assert b"bad-address" in mine
    assert theirs == b"row,column,reason,value\r\n"


def _times(url: str, import_id: uuid.UUID) -> tuple[datetime, datetime, str]:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "select started_at, finished_at, status from import_jobs where import_id = %s",
            (import_id,),
        ).fetchone()
    assert row is not None
    return row[0], row[1], row[2]


# Regression: finished_at came from now() inside the import's transaction (its start time), so a
# job that ran longer than another one it contained looked finished first (issue 8, item 7).
def test_job_times_are_wall_clock_times_so_a_job_finishes_after_one_it_contained(
    make_account: MakeAccount, migrated_db_url: str, tmp_path: Path
) -> None:
    account, _ = make_account("editor")
    outer_path, inner_path = tmp_path / "outer.csv", tmp_path / "inner.csv"
    outer_path.write_bytes(b"email\nouter@example.com\n")
    inner_path.write_bytes(b"email\ninner@example.com\n")
    outer_csv, inner_csv = preflight(outer_path), preflight(inner_path)
    inner_ids: list[uuid.UUID] = []

    def run(csv_file: CsvFile, progress: store.ProgressFn | None = None) -> uuid.UUID:
        with (
            psycopg.connect(migrated_db_url, autocommit=True) as conn,
            psycopg.connect(migrated_db_url, autocommit=True) as status_conn,
        ):
            import_id = jobs.queue_job(conn, account, csv_file, "test", csv_file.path.name)
            done = jobs.execute_job(
                conn, status_conn, import_id, account, csv_file, "test", progress=progress
            )
            assert done is not None
        return import_id

    def run_inner_once(done: int, total: int) -> None:  # while the outer import's txn is open
        if not inner_ids:
            inner_ids.append(run(inner_csv))

    outer = run(outer_csv, run_inner_once)
    outer_started, outer_finished, outer_status = _times(migrated_db_url, outer)
    inner_started, inner_finished, inner_status = _times(migrated_db_url, inner_ids[0])
    assert (outer_status, inner_status) == ("succeeded", "succeeded")
    assert outer_started < inner_started <= inner_finished < outer_finished
    assert outer_finished - outer_started >= inner_finished - inner_started
