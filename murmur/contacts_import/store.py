"""The `import_jobs` rows and their error reports.

Every query is scoped by account, except the API startup's sweep of interrupted jobs
(`fail_interrupted(conn, None)`) and, for now, the CLI's error report.
"""

from __future__ import annotations

import csv
import io
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

JOB_COLUMNS = (
    "import_id, account_id, status, filename, size_bytes, total_rows, processed_rows, inserted,"
    " updated, unchanged, duplicates, error_rows, columns, error, actor, created_at, started_at,"
    " finished_at, updated_at"
)
REPORT_HEADER = ("row", "column", "reason", "value")
ProgressFn = Callable[[int, int], None]
INTERRUPTED = "interrupted (the API process stopped); upload the file again"
STALE_AFTER = timedelta(minutes=10)
_LOCK_SPACE = 1_836_384_257  # first key of the import jobs' advisory locks (any int4)


def create_job(
    conn: psycopg.Connection[Any],
    account_id: uuid.UUID,
    actor: str,
    filename: str | None,
    size_bytes: int,
    total_rows: int,
    columns: dict[str, object],
) -> uuid.UUID:
    """Insert a `queued` job and commit it (it must be visible while the import runs)."""
    with conn.transaction():
        row = conn.execute(
            "insert into import_jobs (account_id, actor, filename, size_bytes, total_rows, columns)"
            " values (%s, %s, %s, %s, %s, %s) returning import_id",
            (account_id, actor, filename, size_bytes, total_rows, Jsonb(columns)),
        ).fetchone()
    assert row is not None
    return uuid.UUID(str(row[0]))


def get_job(
    conn: psycopg.Connection[Any], account_id: uuid.UUID, import_id: uuid.UUID
) -> dict[str, Any] | None:
    """The job as a dict, or None if it does not exist in this account."""
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            f"select {JOB_COLUMNS} from import_jobs where account_id = %s and import_id = %s",
            (account_id, import_id),
        )
        return cur.fetchone()


def lock_job(conn: psycopg.Connection[Any], import_id: uuid.UUID) -> None:
    """Hold the job's advisory lock until the current transaction ends: "this import runs".

    The lock goes away with the connection, so a job whose lock is free is not running.
    """
    conn.execute("select pg_advisory_xact_lock(%s, hashtext(%s))", (_LOCK_SPACE, str(import_id)))


def mark_running(
    conn: psycopg.Connection[Any], account_id: uuid.UUID, import_id: uuid.UUID
) -> None:
    """Move a queued job to running (a failed job stays failed; its import will not finish)."""
    with conn.transaction():
        conn.execute(
            "update import_jobs set status = 'running', started_at = now(), updated_at = now()"
            " where account_id = %s and import_id = %s and status = 'queued'",
            (account_id, import_id),
        )


def mark_failed(
    conn: psycopg.Connection[Any], account_id: uuid.UUID, import_id: uuid.UUID, error: str
) -> None:
    """Record why the job failed (its import transaction was rolled back: nothing was written)."""
    with conn.transaction():
        conn.execute(
            "update import_jobs set status = 'failed', error = %s, finished_at = now(),"
            " started_at = coalesce(started_at, now()), updated_at = now()"
            " where account_id = %s and import_id = %s",
            (error, account_id, import_id),
        )


def fail_interrupted(
    conn: psycopg.Connection[Any],
    account_id: uuid.UUID | None,
    import_id: uuid.UUID | None = None,
    stale_after: timedelta = STALE_AFTER,
) -> list[uuid.UUID]:
    """Mark interrupted jobs `failed` (error INTERRUPTED); returns their ids.

    A queued or running job is interrupted when its heartbeat (`updated_at`, written by every
    status and progress write) is older than `stale_after` and no connection holds its advisory
    lock (see `lock_job`): the process running it stopped. An import is one transaction, so
    nothing of such a job was committed. Scoped to `account_id` (and `import_id` if given);
    `account_id=None` sweeps every account, for the API's startup only.
    """
    where = ["status in ('queued', 'running')", "updated_at < now() - %s"]
    params: list[Any] = [INTERRUPTED, stale_after]
    for column, value in (("account_id", account_id), ("import_id", import_id)):
        if value is not None:
            where.append(f"{column} = %s")
            params.append(value)
    where.append("pg_try_advisory_xact_lock(%s, hashtext(import_id::text))")  # last: per match
    params.append(_LOCK_SPACE)
    with conn.transaction():
        rows = conn.execute(
            "update import_jobs set status = 'failed', error = %s, finished_at = now(),"
            " started_at = coalesce(started_at, now()), updated_at = now()"
            f" where {' and '.join(where)} returning import_id",
            params,
        ).fetchall()
    return [uuid.UUID(str(r[0])) for r in rows]


def job_progress_writer(
    conn: psycopg.Connection[Any],
    account_id: uuid.UUID,
    import_id: uuid.UUID,
    every_seconds: float = 1.0,
) -> ProgressFn:
    """A progress callback storing rows done / total (and the heartbeat) on the job row.

    Writes at most once per `every_seconds`, through `conn`: its own connection, since the
    import's transaction is open on another one.
    """
    last = 0.0

    def write(done: int, total: int) -> None:
        nonlocal last
        now = time.monotonic()
        if now - last < every_seconds and done < total:
            return
        last = now
        with conn.transaction():
            conn.execute(
                "update import_jobs set processed_rows = %s, total_rows = %s, updated_at = now()"
                " where account_id = %s and import_id = %s and status = 'running'",
                (done, total, account_id, import_id),
            )

    return write


def iter_error_report(
    conn: psycopg.Connection[Any],
    import_id: uuid.UUID,
    chunk_rows: int = 10_000,
    *,
    account_id: uuid.UUID,
) -> Iterator[bytes]:
    """The error report of a job of `account_id` as CSV bytes (header first), in row order."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(REPORT_HEADER)
    query = (
        "select x.row_number, x.column_name, x.reason, x.value from import_errors x"
        " join import_jobs j on j.import_id = x.import_id"
        " where x.import_id = %s and j.account_id = %s"
        " order by x.row_number, x.column_name"
    )
    with conn.transaction(), conn.cursor(name=f"import_errors_{import_id.hex}") as cur:
        cur.itersize = chunk_rows
        cur.execute(query, (import_id, account_id))
        for n, (row, column, reason, value) in enumerate(cur, 1):
            writer.writerow((row, column, reason, _defuse(value)))
            if n % chunk_rows == 0:
                yield buf.getvalue().encode()
                buf.seek(0)
                buf.truncate()
    yield buf.getvalue().encode()


def _defuse(value: str) -> str:
    """Keep spreadsheets from running a value as a formula (CSV injection): prefix a quote."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value
