"""The `import_jobs` rows and their error reports. Every query is scoped by account."""

from __future__ import annotations

import csv
import io
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

JOB_COLUMNS = (
    "import_id, account_id, status, filename, size_bytes, total_rows, processed_rows, inserted,"
    " updated, unchanged, duplicates, error_rows, columns, error, actor, created_at, started_at,"
    " finished_at"
)
REPORT_HEADER = ("row", "column", "reason", "value")
ProgressFn = Callable[[int, int], None]


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


def mark_running(conn: psycopg.Connection[Any], import_id: uuid.UUID) -> None:
    with conn.transaction():
        conn.execute(
            "update import_jobs set status = 'running', started_at = now() where import_id = %s",
            (import_id,),
        )


def mark_failed(conn: psycopg.Connection[Any], import_id: uuid.UUID, error: str) -> None:
    """Record why the job failed (its import transaction was rolled back: nothing was written)."""
    with conn.transaction():
        conn.execute(
            "update import_jobs set status = 'failed', error = %s, finished_at = now(),"
            " started_at = coalesce(started_at, now()) where import_id = %s",
            (error, import_id),
        )


def job_progress_writer(
    conn: psycopg.Connection[Any], import_id: uuid.UUID, every_seconds: float = 1.0
) -> ProgressFn:
    """A progress callback storing rows done / total on the job row.

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
                "update import_jobs set processed_rows = %s, total_rows = %s"
                " where import_id = %s and status = 'running'",
                (done, total, import_id),
            )

    return write


def iter_error_report(
    conn: psycopg.Connection[Any], import_id: uuid.UUID, chunk_rows: int = 10_000
) -> Iterator[bytes]:
    """The error report as CSV bytes (header first), in row order, streamed in chunks."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(REPORT_HEADER)
    with conn.transaction(), conn.cursor(name=f"import_errors_{import_id.hex}") as cur:
        cur.itersize = chunk_rows
        cur.execute(
            "select row_number, column_name, reason, value from import_errors"
            " where import_id = %s order by row_number, column_name",
            (import_id,),
        )
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
