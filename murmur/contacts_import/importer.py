"""Run one import in one transaction, all or nothing.

Three stages run side by side: a thread parses the next CSV batch (pyarrow), this thread
validates the current one (polars), another COPYs the previous one into a temp table. Then the
rejections (`rejects.py`: future consent times, erased addresses, in-file duplicates) leave one
row per address, and one statement updates the contacts of the file that exist and inserts the
others with a plain INSERT (`merge.py`; the foreign key to the account is checked once); errors,
counts and the audit entry commit with it, so an import either lands completely or not at all.

Merge rules (last row of the file wins for a repeated address):
- an empty cell keeps the contact's current value; custom fields are merged key by key;
- an import never resubscribes: a contact that is unsubscribed, bounced or complained keeps that
  status, and an address on the suppression list is imported with the matching non-subscribed
  status (bounce → bounced, complaint → complained, otherwise unsubscribed);
- an address that was erased (GDPR tombstone in `erasures`) is rejected with reason "erased"
  and its value is not stored in the error report. The tombstones are checked at commit time,
  under the account's erasure gate (`domain.suppression.erasure_gate`), so an erasure that runs
  while the file loads is never undone by the import's commit.

The status, tombstone and audit rules come from `murmur.domain`; this module only applies them
set-based.
"""

from __future__ import annotations

import io
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import polars as pl
import psycopg
import sqlalchemy as sa
from psycopg import sql

from murmur.contacts_import.errors import ImportFailed
from murmur.contacts_import.merge import merge
from murmur.contacts_import.pipeline import prefetch
from murmur.contacts_import.reader import CsvFile, iter_batches
from murmur.contacts_import.rejects import (
    drop_duplicates,
    later,
    reject_erased,
    reject_future_consent,
)
from murmur.contacts_import.rows import CONTACT_COLUMNS, ERROR_SCHEMA, ROW, validate_batch
from murmur.contacts_import.store import WALL_CLOCK, ProgressFn, execute, lock_job
from murmur.db.tables import import_errors, import_jobs
from murmur.domain.audit import audit_insert
from murmur.domain.suppression import erasure_gate


@dataclass(frozen=True)
class ImportResult:
    total_rows: int
    inserted: int
    updated: int
    unchanged: int
    duplicates: int
    error_rows: int


def _temp_table(conn: psycopg.Connection[Any]) -> None:
    conn.execute(
        "create temp table import_rows (row bigint not null, email text not null,"
        " first_name text, last_name text, status text, consent_source text,"
        " consent_at timestamptz, consent_ip inet,"
        " custom_fields jsonb not null default '{}') on commit drop"
    )


def _copy_frame(
    conn: psycopg.Connection[Any], statement: sql.Composed | sql.SQL, frame: pl.DataFrame
) -> None:
    if frame.height == 0:
        return
    buf = io.BytesIO()
    frame.write_csv(buf, include_header=False)
    with conn.cursor() as cur, cur.copy(statement) as copy:
        copy.write(buf.getbuffer())


def _copy_frames(
    conn: psycopg.Connection[Any], *copies: tuple[sql.Composed | sql.SQL, pl.DataFrame]
) -> None:
    for statement, frame in copies:
        _copy_frame(conn, statement, frame)


def run_import(
    conn: psycopg.Connection[Any],
    import_id: uuid.UUID,
    account_id: uuid.UUID,
    csv: CsvFile,
    actor: str,
    progress: ProgressFn | None = None,
    filename: str | None = None,
) -> ImportResult:
    """Import `csv` into the account's contacts as job `import_id`, all or nothing.

    Raises ImportFailed (or a database error) with everything rolled back; the caller records
    the failure on the job (`store.mark_failed`).
    """
    cmap = csv.columns
    email_column = cmap.header[cmap.fields["email"]]
    copy_rows = sql.SQL("copy import_rows ({}) from stdin (format csv)").format(
        sql.SQL(", ").join(sql.Identifier(c) for c in CONTACT_COLUMNS)
    )
    copy_errors = sql.SQL("copy {} ({}) from stdin (format csv)").format(
        sql.Identifier(import_errors.name),
        sql.SQL(", ").join(
            sql.Identifier(import_errors.c[c].name)
            for c in ("row_number", "column_name", "reason", "value", "import_id")
        ),
    )
    done = error_rows = 0
    latest: datetime | None = None  # the latest consent time loaded
    with conn.transaction():
        lock_job(conn, import_id)  # tells `store.fail_interrupted` that this job is alive
        started = execute(conn, sa.select(WALL_CLOCK)).fetchone()[0]  # type: ignore[index]
        conn.execute("set local work_mem = '256MB'")
        _temp_table(conn)
        # parse batch k+1 (a thread) and COPY batch k-1 (another) while batch k is validated
        with ThreadPoolExecutor(1) as copier, closing(prefetch(iter_batches(csv))) as batches:
            copied: Future[None] = copier.submit(lambda: None)
            for batch in batches:
                good, errors = validate_batch(batch.rows, cmap)
                latest = later(latest, good.get_column("consent_at"))
                errors = pl.concat([batch.errors, errors]).select(*ERROR_SCHEMA)
                errors = errors.with_columns(import_id=pl.lit(str(import_id)))
                copied.result()  # one statement at a time on `conn`; re-raises a COPY error
                copied = copier.submit(_copy_frames, conn, (copy_rows, good), (copy_errors, errors))
                error_rows += errors.get_column(ROW).n_unique()
                done += batch.rows.height + batch.errors.height
                if progress is not None:
                    progress(done, max(done, csv.estimated_rows))
            copied.result()
        consent_at = cmap.fields.get("consent_at")
        consent_column = None if consent_at is None else cmap.header[consent_at]
        error_rows += reject_future_consent(conn, import_id, consent_column, latest, started)
        execute(conn, erasure_gate(account_id, exclusive=True))  # held until commit
        error_rows += reject_erased(conn, import_id, account_id, email_column)
        duplicates = drop_duplicates(conn, import_id, email_column)
        counts = merge(conn, account_id)
        if counts is None:
            raise ImportFailed("the upsert returned no counts")
        inserted, updated = int(counts[0]), int(counts[1])
        loaded = done - error_rows - duplicates
        result = ImportResult(
            total_rows=done,
            inserted=inserted,
            updated=updated,
            unchanged=loaded - inserted - updated,
            duplicates=duplicates,
            error_rows=error_rows,
        )
        job = (import_jobs.c.account_id == account_id, import_jobs.c.import_id == import_id)
        finished = execute(
            conn,
            import_jobs.update()
            .where(*job, import_jobs.c.status.in_(("queued", "running")))
            .values(
                status="succeeded",
                finished_at=WALL_CLOCK,
                updated_at=WALL_CLOCK,
                processed_rows=done,
                **asdict(result),
            ),
        )
        if finished.rowcount != 1:
            raise ImportFailed("the job was no longer queued or running; upload the file again")
        details = {"import_id": str(import_id), "filename": filename, **asdict(result)}
        execute(
            conn, audit_insert(account_id, actor, "contacts.import", "import", import_id, details)
        )
    if progress is not None:
        progress(done, done)
    return result
