"""Run one import in one transaction, all or nothing.

COPY the validated rows into a temp table, then one statement that updates the contacts of the
file that exist and inserts the others with a plain INSERT (see `_MERGE`; the foreign key to the
account is checked once, see `_without_fk_triggers`); errors, counts and the audit entry commit
with it, so an import either lands completely or not at all.

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
from dataclasses import asdict, dataclass
from typing import Any

import polars as pl
import psycopg
import sqlalchemy as sa
from psycopg import sql
from sqlalchemy.dialects.postgresql import UUID

from murmur.contacts_import.errors import ImportFailed
from murmur.contacts_import.merge import merge
from murmur.contacts_import.reader import CsvFile, iter_batches
from murmur.contacts_import.rows import CONTACT_COLUMNS, ERROR_SCHEMA, ROW, validate_batch
from murmur.contacts_import.store import WALL_CLOCK, ProgressFn, execute, lock_job
from murmur.db.tables import erasures, import_errors, import_jobs
from murmur.domain.audit import audit_insert
from murmur.domain.consent import IN_THE_FUTURE, MAX_CLOCK_SKEW
from murmur.domain.suppression import email_sha256_sql, erasure_gate

ERASED_REASON = "erased: this address was erased on request (GDPR) and cannot be imported again"
# the temp table, as far as the Core statements below need it (its columns vary per file)
_ROWS = sa.table(
    "import_rows",
    sa.column("row", sa.BigInteger),
    sa.column("email", sa.Text),
    sa.column("consent_at", sa.DateTime(timezone=True)),
)
_ERROR_COLUMNS = ("import_id", "row_number", "column_name", "reason", "value")


@dataclass(frozen=True)
class ImportResult:
    total_rows: int
    inserted: int
    updated: int
    unchanged: int
    duplicates: int
    error_rows: int


def _temp_table(conn: psycopg.Connection[Any], n_custom: int) -> None:
    custom = "".join(f", cf_{k} text" for k in range(n_custom))
    conn.execute(
        "create temp table import_rows (row bigint not null, email text not null,"
        " first_name text, last_name text, status text, consent_source text,"
        f" consent_at timestamptz, consent_ip inet{custom}) on commit drop"
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


def _error_rows(
    import_id: uuid.UUID,
    column: str,
    rows: sa.FromClause,
    reason: sa.ColumnElement[str],
    value: sa.ColumnElement[str],
    *where: sa.ColumnElement[bool],
) -> sa.Insert:
    """Insert into the error report one row per row of `rows` (which has a `row` column)."""
    select = sa.select(
        sa.literal(import_id, UUID(as_uuid=True)), rows.c.row, sa.literal(column), reason, value
    )
    return import_errors.insert().from_select(_ERROR_COLUMNS, select.where(*where))


def _reject_erased(
    conn: psycopg.Connection[Any], import_id: uuid.UUID, account_id: uuid.UUID, column: str
) -> int:
    """Move rows whose address has an erasure tombstone out of the load, into the report.

    Also blanks reported values of this import that quote an erased address. Run it under the
    erasure gate, just before the upsert.
    """
    mine = erasures.c.account_id == account_id
    has_erasures = execute(conn, sa.select(sa.exists().where(mine))).fetchone()
    if not has_erasures or not has_erasures[0]:
        return 0
    gone = (
        sa.delete(_ROWS)
        .where(mine, erasures.c.email_sha256 == email_sha256_sql(_ROWS.c.email))
        .returning(_ROWS.c.row)
        .cte("gone")
    )
    insert = _error_rows(import_id, column, gone, sa.literal(ERASED_REASON), sa.literal(""))
    erased = execute(conn, insert.add_cte(gone))
    quoted = email_sha256_sql(sa.func.lower(sa.func.btrim(import_errors.c.value)))
    execute(
        conn,
        import_errors.update()
        .where(
            import_errors.c.import_id == import_id,
            import_errors.c.value != "",
            quoted.in_(sa.select(erasures.c.email_sha256).where(mine)),
        )
        .values(value=""),
    )
    return erased.rowcount


def _reject_future_consent(
    conn: psycopg.Connection[Any], import_id: uuid.UUID, column: str | None
) -> int:
    """Move rows whose consent time is in the future (the domain's clock skew) to the report."""
    if column is None:
        return 0
    gone = (
        sa.delete(_ROWS)
        .where(_ROWS.c.consent_at > WALL_CLOCK + MAX_CLOCK_SKEW)
        .returning(_ROWS.c.row, _ROWS.c.consent_at)
        .cte("gone")
    )
    reason = sa.literal(f"consent time {IN_THE_FUTURE}")
    value = sa.cast(gone.c.consent_at, sa.Text)
    return execute(conn, _error_rows(import_id, column, gone, reason, value).add_cte(gone)).rowcount


def _drop_duplicates(conn: psycopg.Connection[Any], import_id: uuid.UUID, column: str) -> int:
    """Report, and drop from the load, rows replaced by a later row with the same address.

    Leaves one row per normalized address in `import_rows`, the last of the file (what `merge`
    loads). One hash aggregate finds the repeated addresses (rare), so the 1M rows are not sorted.
    """
    last = (
        sa.select(_ROWS.c.email, sa.func.max(_ROWS.c.row).label("last_row"))
        .group_by(_ROWS.c.email)
        .having(sa.func.count() > 1)
        .cte("last")
    )
    gone = (
        sa.delete(_ROWS)
        .where(_ROWS.c.email == last.c.email, _ROWS.c.row < last.c.last_row)
        .returning(_ROWS.c.row, _ROWS.c.email, last.c.last_row)
        .cte("gone")
    )
    reason = (
        sa.literal("duplicate email: row ")
        + sa.cast(gone.c.last_row, sa.Text)
        + sa.literal(" has the same address and replaces this one (last row wins)")
    )
    insert = _error_rows(import_id, column, gone, reason, gone.c.email)
    return execute(conn, insert.add_cte(last).add_cte(gone)).rowcount


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
        sql.SQL(", ").join(
            sql.Identifier(c)
            for c in (*CONTACT_COLUMNS, *(f"cf_{k}" for k in range(len(cmap.custom))))
        )
    )
    copy_errors = sql.SQL("copy {} ({}) from stdin (format csv)").format(
        sql.Identifier(import_errors.name),
        sql.SQL(", ").join(
            sql.Identifier(import_errors.c[c].name)
            for c in ("row_number", "column_name", "reason", "value", "import_id")
        ),
    )
    done = error_rows = 0
    with conn.transaction():
        lock_job(conn, import_id)  # tells `store.fail_interrupted` that this job is alive
        conn.execute("set local work_mem = '256MB'")
        _temp_table(conn, len(cmap.custom))
        with ThreadPoolExecutor(1) as copier:  # COPY batch k while batch k+1 is validated
            copied: Future[None] = copier.submit(lambda: None)
            for batch in iter_batches(csv):
                good, errors = validate_batch(batch.rows, cmap)
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
        error_rows += _reject_future_consent(conn, import_id, consent_column)
        execute(conn, erasure_gate(account_id, exclusive=True))  # held until commit
        error_rows += _reject_erased(conn, import_id, account_id, email_column)
        duplicates = _drop_duplicates(conn, import_id, email_column)
        counts = merge(conn, account_id, cmap.custom_keys)
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
