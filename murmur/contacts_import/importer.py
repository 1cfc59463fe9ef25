"""Run one import in one transaction, all or nothing.

COPY the validated rows into a temp table, then a single `insert ... on conflict do update` into
contacts; errors, counts and the audit entry commit with it, so an import either lands completely
or not at all.

Merge rules (last row of the file wins for a repeated address):
- an empty cell keeps the contact's current value; custom fields are merged key by key;
- an import never resubscribes: a contact that is unsubscribed, bounced or complained keeps that
  status, and an address on the suppression list is imported with the matching non-subscribed
  status (bounce → bounced, complaint → complained, otherwise unsubscribed);
- an address that was erased (GDPR tombstone in `erasures`) is rejected with reason "erased"
  and its value is not stored in the error report.
"""

from __future__ import annotations

import io
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any

import polars as pl
import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from murmur.contacts_import.errors import ImportFailed
from murmur.contacts_import.reader import CsvFile, iter_batches
from murmur.contacts_import.rows import CONTACT_COLUMNS, ERROR_SCHEMA, ROW, validate_batch
from murmur.contacts_import.store import ProgressFn, lock_job

ERASED_REASON = "erased: this address was erased on request (GDPR) and cannot be imported again"
_JSONB_ARGS = 50  # key/value pairs per jsonb_build_object call (100 arguments at most)


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


def _custom_fields_sql(keys: list[str]) -> sql.Composable:
    if not keys:
        return sql.SQL("'{}'::jsonb")
    parts = []
    for start in range(0, len(keys), _JSONB_ARGS):
        args = sql.SQL(", ").join(
            sql.SQL("{}, s.{}").format(sql.Literal(key), sql.Identifier(f"cf_{k}"))
            for k, key in enumerate(keys[start : start + _JSONB_ARGS], start)
        )
        parts.append(sql.SQL("jsonb_build_object({})").format(args))
    return sql.SQL("jsonb_strip_nulls({})").format(sql.SQL(" || ").join(parts))


_UPSERT = """
with src as (
    select distinct on (r.email) r.* from import_rows r order by r.email, r.row desc
), up as (
    insert into contacts as c (account_id, email, first_name, last_name, custom_fields, status,
                               consent_source, consent_at, consent_ip)
    select {account}, s.email, s.first_name, s.last_name, {custom},
           case when sup.email is null then coalesce(s.status, 'subscribed')
                when sup.reason = 'bounce' then 'bounced'
                when sup.reason = 'complaint' then 'complained' else 'unsubscribed' end,
           s.consent_source, s.consent_at, s.consent_ip
    from src s
    left join suppressions sup on sup.account_id = {account} and sup.email = s.email
    order by s.email
    on conflict (account_id, email) do update set
        first_name = coalesce(excluded.first_name, c.first_name),
        last_name = coalesce(excluded.last_name, c.last_name),
        custom_fields = c.custom_fields || excluded.custom_fields,
        status = case when c.status <> 'subscribed' then c.status else excluded.status end,
        consent_source = coalesce(excluded.consent_source, c.consent_source),
        consent_at = coalesce(excluded.consent_at, c.consent_at),
        consent_ip = coalesce(excluded.consent_ip, c.consent_ip),
        updated_at = now()
    where (c.first_name, c.last_name, c.custom_fields, c.status, c.consent_source, c.consent_at,
           c.consent_ip)
        is distinct from
          (coalesce(excluded.first_name, c.first_name), coalesce(excluded.last_name, c.last_name),
           c.custom_fields || excluded.custom_fields,
           case when c.status <> 'subscribed' then c.status else excluded.status end,
           coalesce(excluded.consent_source, c.consent_source),
           coalesce(excluded.consent_at, c.consent_at), coalesce(excluded.consent_ip, c.consent_ip))
    returning (xmax = 0) as inserted
)
select count(*) filter (where inserted), count(*) filter (where not inserted) from up
"""


def _reject_erased(
    conn: psycopg.Connection[Any], import_id: uuid.UUID, account_id: uuid.UUID, column: str
) -> int:
    """Move rows whose address has an erasure tombstone out of the load, into the report."""
    has_erasures = conn.execute(
        "select exists (select 1 from erasures where account_id = %s)", (account_id,)
    ).fetchone()
    if not has_erasures or not has_erasures[0]:
        return 0
    erased = conn.execute(
        "with gone as (delete from import_rows r using erasures e"
        " where e.account_id = %s"
        " and e.email_sha256 = encode(sha256(convert_to(r.email, 'UTF8')), 'hex')"
        " returning r.row)"
        " insert into import_errors (import_id, row_number, column_name, reason, value)"
        " select %s, row, %s, %s, '' from gone",
        (account_id, import_id, column, ERASED_REASON),
    )
    return erased.rowcount


def _report_duplicates(conn: psycopg.Connection[Any], import_id: uuid.UUID, column: str) -> int:
    """Report rows replaced by a later row with the same normalized address."""
    cur = conn.execute(
        "insert into import_errors (import_id, row_number, column_name, reason, value)"
        " select %s, row, %s, 'duplicate email: row ' || last_row || ' has the same address"
        " and replaces this one (last row wins)', email"
        " from (select row, email, max(row) over (partition by email) as last_row"
        "       from import_rows) d where row < last_row",
        (import_id, column),
    )
    return cur.rowcount


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
    copy_errors = sql.SQL(
        "copy import_errors (row_number, column_name, reason, value, import_id)"
        " from stdin (format csv)"
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
        error_rows += _reject_erased(conn, import_id, account_id, email_column)
        duplicates = _report_duplicates(conn, import_id, email_column)
        statement = sql.SQL(_UPSERT).format(
            account=sql.Literal(str(account_id)) + sql.SQL("::uuid"),
            custom=_custom_fields_sql(cmap.custom_keys),
        )
        counts = conn.execute(statement).fetchone()
        assert counts is not None
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
        finished = conn.execute(
            "update import_jobs set status = 'succeeded', finished_at = now(), updated_at = now(),"
            " processed_rows = %(total_rows)s, total_rows = %(total_rows)s,"
            " inserted = %(inserted)s, updated = %(updated)s, unchanged = %(unchanged)s,"
            " duplicates = %(duplicates)s, error_rows = %(error_rows)s"
            " where account_id = %(account_id)s and import_id = %(import_id)s"
            " and status in ('queued', 'running')",
            {**asdict(result), "import_id": import_id, "account_id": account_id},
        )
        if finished.rowcount != 1:
            raise ImportFailed("the job was no longer queued or running; upload the file again")
        details = {"import_id": str(import_id), "filename": filename, **asdict(result)}
        conn.execute(
            "insert into audit_log (account_id, actor, action, object_type, object_id, details)"
            " values (%s, %s, 'contacts.import', 'import', %s, %s)",
            (account_id, actor, str(import_id), Jsonb(details)),
        )
    if progress is not None:
        progress(done, done)
    return result
