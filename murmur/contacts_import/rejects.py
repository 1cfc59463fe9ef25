"""The rows an import reports instead of loading, moved out of `import_rows` set-based.

Each function deletes its rows from the temp table `import_rows` and inserts one report row per
rejected row into `import_errors`, in the import's transaction: consent times in the future,
erased addresses (GDPR tombstones, checked under the erasure gate) and in-file duplicates (the
last row of an address wins).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl
import psycopg
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import UUID

from murmur.contacts_import.store import WALL_CLOCK, execute
from murmur.db.tables import erasures, import_errors
from murmur.domain.consent import IN_THE_FUTURE, MAX_CLOCK_SKEW
from murmur.domain.suppression import email_sha256_sql

ERASED_REASON = "erased: this address was erased on request (GDPR) and cannot be imported again"
# the temp table, as far as the statements below need it (its columns vary per file)
_ROWS = sa.table(
    "import_rows",
    sa.column("row", sa.BigInteger),
    sa.column("email", sa.Text),
    sa.column("consent_at", sa.DateTime(timezone=True)),
)
_ERROR_COLUMNS = ("import_id", "row_number", "column_name", "reason", "value")
# how far the server clock may step back during an import without changing a consent verdict
CLOCK_MARGIN = timedelta(hours=1)
_FAR_FUTURE = datetime.max.replace(tzinfo=UTC)
_TS_FORMAT = "%Y-%m-%dT%H:%M:%S%.f%#z"


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


def reject_erased(
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


def reject_future_consent(
    conn: psycopg.Connection[Any],
    import_id: uuid.UUID,
    column: str | None,
    latest: datetime | None = None,
    started: datetime | None = None,
) -> int:
    """Move rows whose consent time is in the future (the domain's clock skew) to the report.

    `latest` is the latest consent time of the loaded rows and `started` the server clock when
    the import began: when `latest` is well within the limit at `started` (the server clock only
    moves on, give or take CLOCK_MARGIN), no row can be rejected and the scan is skipped.
    """
    if column is None:
        return 0
    if latest is not None and started is not None:
        if latest <= started + MAX_CLOCK_SKEW - CLOCK_MARGIN:
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


def drop_duplicates(conn: psycopg.Connection[Any], import_id: uuid.UUID, column: str) -> int:
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


def later(latest: datetime | None, values: pl.Series) -> datetime | None:
    """The later of `latest` and the greatest of a batch's consent times (UTC ISO text).

    A value that does not parse back counts as the far future: the rejection scan then runs.
    """
    present = values.drop_nulls()
    if present.is_empty():
        return latest
    parsed = present.str.to_datetime(_TS_FORMAT, strict=False, time_unit="us", time_zone="UTC")
    top = parsed.max()
    if parsed.null_count() or not isinstance(top, datetime):
        return _FAR_FUTURE
    return top if latest is None or top > latest else latest
