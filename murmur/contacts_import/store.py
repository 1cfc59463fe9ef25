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
import sqlalchemy as sa
from psycopg.rows import dict_row
from sqlalchemy.dialects.postgresql import psycopg as psycopg_dialect
from sqlalchemy.sql.compiler import SQLCompiler

from murmur.db.tables import import_errors, import_jobs

REPORT_HEADER = ("row", "column", "reason", "value")
ProgressFn = Callable[[int, int], None]
INTERRUPTED = "interrupted (the API process stopped); upload the file again"
STALE_AFTER = timedelta(minutes=10)
_LOCK_SPACE = 1_836_384_257  # first key of the import jobs' advisory locks (any int4)
_DIALECT = psycopg_dialect.dialect()  # type: ignore[no-untyped-call]
# Progress and finish times are wall-clock times: `now()` is the start of the transaction.
WALL_CLOCK = sa.func.clock_timestamp()


def compiled(statement: sa.ClauseElement) -> tuple[str, dict[str, Any]]:
    """A Core statement as SQL text and parameters for a raw psycopg connection."""
    query = statement.compile(dialect=_DIALECT, compile_kwargs={"render_postcompile": True})
    if not isinstance(query, SQLCompiler):
        raise TypeError(f"not a SQL statement: {type(statement).__name__}")
    processors = query._bind_processors  # the dialect's conversions (JSONB → Jsonb, ...)
    params = {}
    for name, value in query.construct_params().items():
        process = processors.get(name)
        params[name] = process(value) if callable(process) else value
    return str(query), params


def execute(conn: psycopg.Connection[Any], statement: sa.ClauseElement) -> psycopg.Cursor[Any]:
    """Run a Core statement (built from the `murmur.db.tables` mirror) on a psycopg connection."""
    return conn.execute(*compiled(statement))


def sql_text(expression: sa.ColumnElement[Any]) -> str:
    """A Core expression as SQL with its values inlined, to embed in a hand-written statement."""
    return str(expression.compile(dialect=_DIALECT, compile_kwargs={"literal_binds": True}))


def _job(account_id: uuid.UUID, import_id: uuid.UUID) -> tuple[sa.ColumnElement[bool], ...]:
    return import_jobs.c.account_id == account_id, import_jobs.c.import_id == import_id


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
    insert = import_jobs.insert().values(
        account_id=account_id,
        actor=actor,
        filename=filename,
        size_bytes=size_bytes,
        total_rows=total_rows,
        columns=columns,
    )
    with conn.transaction():
        row = execute(conn, insert.returning(import_jobs.c.import_id)).fetchone()
    if row is None:
        raise RuntimeError("insert into import_jobs returned no row")
    return uuid.UUID(str(row[0]))


def get_job(
    conn: psycopg.Connection[Any], account_id: uuid.UUID, import_id: uuid.UUID
) -> dict[str, Any] | None:
    """The job as a dict, or None if it does not exist in this account."""
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(*compiled(sa.select(import_jobs).where(*_job(account_id, import_id))))
        return cur.fetchone()


def lock_job(conn: psycopg.Connection[Any], import_id: uuid.UUID) -> None:
    """Hold the job's advisory lock until the current transaction ends: "this import runs".

    The lock goes away with the connection, so a job whose lock is free is not running.
    """
    execute(conn, sa.select(sa.func.pg_advisory_xact_lock(_LOCK_SPACE, _lock_key(import_id))))


def _lock_key(import_id: uuid.UUID | sa.ColumnElement[Any]) -> sa.ColumnElement[int]:
    text = (
        sa.cast(import_id, sa.Text) if isinstance(import_id, sa.ColumnElement) else str(import_id)
    )
    return sa.func.hashtext(text)


def mark_running(
    conn: psycopg.Connection[Any], account_id: uuid.UUID, import_id: uuid.UUID
) -> None:
    """Move a queued job to running (a failed job stays failed; its import will not finish)."""
    update = import_jobs.update().where(*_job(account_id, import_id))
    with conn.transaction():
        execute(
            conn,
            update.where(import_jobs.c.status == "queued").values(
                status="running", started_at=WALL_CLOCK, updated_at=WALL_CLOCK
            ),
        )


def mark_failed(
    conn: psycopg.Connection[Any], account_id: uuid.UUID, import_id: uuid.UUID, error: str
) -> None:
    """Record why the job failed (its import transaction was rolled back: nothing was written)."""
    update = import_jobs.update().where(*_job(account_id, import_id))
    with conn.transaction():
        execute(conn, update.values(_failed(error)))


def _failed(error: str) -> dict[str, Any]:
    return {
        "status": "failed",
        "error": error,
        "finished_at": WALL_CLOCK,
        "started_at": sa.func.coalesce(import_jobs.c.started_at, WALL_CLOCK),
        "updated_at": WALL_CLOCK,
    }


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
    where = [
        import_jobs.c.status.in_(("queued", "running")),
        import_jobs.c.updated_at < WALL_CLOCK - stale_after,
    ]
    for column, value in (("account_id", account_id), ("import_id", import_id)):
        if value is not None:
            where.append(import_jobs.c[column] == value)
    alive = sa.func.pg_try_advisory_xact_lock(_LOCK_SPACE, _lock_key(import_jobs.c.import_id))
    where.append(alive)  # last: tried only for the jobs the other conditions match
    update = import_jobs.update().where(sa.and_(*where)).values(_failed(INTERRUPTED))
    with conn.transaction():
        rows = execute(conn, update.returning(import_jobs.c.import_id)).fetchall()
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
        update = import_jobs.update().where(
            *_job(account_id, import_id), import_jobs.c.status == "running"
        )
        with conn.transaction():
            execute(
                conn, update.values(processed_rows=done, total_rows=total, updated_at=WALL_CLOCK)
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
    x = import_errors.c
    query = (
        sa.select(x.row_number, x.column_name, x.reason, x.value)
        .join(import_jobs, import_jobs.c.import_id == x.import_id)
        .where(x.import_id == import_id, import_jobs.c.account_id == account_id)
        .order_by(x.row_number, x.column_name)
    )
    with conn.transaction(), conn.cursor(name=f"import_errors_{import_id.hex}") as cur:
        cur.itersize = chunk_rows
        cur.execute(*compiled(query))
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
