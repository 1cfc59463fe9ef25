"""Incremental Postgres → ClickHouse replication of one table, as Arrow batches.

The watermark of each table lives in ClickHouse, in `replication_state` (one row per table,
latest wins), next to the data it describes: rows are inserted first and the watermark moves
after, so a crash in between copies some rows again, which the raw tables' ReplacingMergeTree
collapses. Each run reads Postgres in one REPEATABLE READ snapshot, so the copied rows and the
key diff that finds deleted rows agree.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
import pyarrow as pa
import pyarrow.compute as pc
from clickhouse_connect.driver.client import Client

from murmur.analytics.tables import STATE_SQL, STATE_TABLE, TableSpec, arrow_schema, create_sql

BATCH_ROWS = 50_000
DELETE_CHUNK = 1_000
# updated_at is the start time of the writing transaction: one that commits later than a run
# that already moved past it would be missed without this look-back
LOOKBACK = dt.timedelta(minutes=5)


@dataclass(frozen=True)
class Watermark:
    at: dt.datetime | None = None
    id: int | None = None


@dataclass(frozen=True)
class TableResult:
    table: str
    copied: int
    deleted: int
    watermark: Watermark


def ensure_tables(ch: Client, specs: tuple[TableSpec, ...]) -> None:
    """Create the state table and the raw tables that do not exist yet."""
    ch.command(STATE_SQL)
    for spec in specs:
        ch.command(create_sql(spec))


def read_watermark(ch: Client, table: str) -> Watermark:
    rows = ch.query(
        f"select watermark_at, watermark_id from `{STATE_TABLE}` final"
        " where table_name = {t:String}",
        parameters={"t": table},
    ).result_rows
    if not rows:
        return Watermark()
    at, max_id = rows[0]
    if at is not None and at.tzinfo is None:
        at = at.replace(tzinfo=dt.UTC)
    return Watermark(at=at, id=max_id)


def _write_watermark(ch: Client, result: TableResult, now: dt.datetime) -> None:
    ch.insert(
        STATE_TABLE,
        [
            [
                result.table,
                result.watermark.at,
                result.watermark.id,
                result.copied,
                result.deleted,
                now,
            ]
        ],
        column_names=[
            "table_name",
            "watermark_at",
            "watermark_id",
            "rows_copied",
            "rows_deleted",
            "synced_at",
        ],
    )


def _open_ledger_ids(ch: Client, spec: TableSpec) -> list[int]:
    """Ledger rows ClickHouse still has as queued/sending: the only ones that can still change."""
    rows = ch.query(
        f"select `{spec.key}` from `{spec.table}` final where status in ('queued', 'sending')"
    ).result_rows
    return [int(r[0]) for r in rows]


def _changes_query(spec: TableSpec, mark: Watermark, ch: Client) -> tuple[str, dict[str, Any]]:
    select = ", ".join(f"{c.sql} as {c.name}" for c in spec.columns)
    base = f"select {select} from {spec.source}"
    if spec.mode == "full":
        return base, {}
    if spec.mode == "updated_at":
        if mark.at is None:
            return base, {}
        return f"{base} where updated_at > %(since)s", {"since": mark.at - LOOKBACK}
    last = mark.id if mark.id is not None else -(2**63)
    if spec.mode == "id":
        return f"{base} where {spec.key} > %(last)s", {"last": last}
    # ledger
    where = f"{spec.key} > %(last)s or {spec.key} = any(%(open)s)"
    return f"{base} where {where}", {"last": last, "open": _open_ledger_ids(ch, spec)}


def _batches(cur: psycopg.Cursor[Any], schema: pa.Schema, now: dt.datetime) -> Iterator[pa.Table]:
    names = [f.name for f in schema][:-1]
    while rows := cur.fetchmany(BATCH_ROWS):
        columns: dict[str, list[Any]] = {name: [] for name in names}
        for row in rows:
            for name, value in zip(names, row, strict=True):
                columns[name].append(value)
        arrays = [pa.array(columns[f.name], type=f.type) for f in schema if f.name in columns]
        arrays.append(pa.array([now] * len(rows), type=schema.field("_synced_at").type))
        yield pa.Table.from_arrays(arrays, schema=schema)


def _advance(spec: TableSpec, mark: Watermark, batch: pa.Table) -> Watermark:
    if spec.mode == "updated_at" and batch.num_rows:
        top = pc.max(batch.column("updated_at")).as_py()
        return Watermark(at=max(top, mark.at) if mark.at else top, id=mark.id)
    if spec.mode in ("id", "ledger") and batch.num_rows:
        top = int(pc.max(batch.column(spec.key)).as_py())
        return Watermark(at=mark.at, id=max(top, mark.id) if mark.id is not None else top)
    return mark


def _missing_keys(cur: psycopg.Cursor[Any], ch: Client, spec: TableSpec) -> list[Any]:
    """Keys ClickHouse holds that Postgres no longer has (deleted rows)."""
    key = spec.columns[0]
    ch_keys = ch.query_arrow(f"select toString(`{spec.key}`) as k from `{spec.table}` final")
    if ch_keys.num_rows == 0:
        return []
    cur.execute(f"select ({spec.key})::text from {spec.source}")
    pg_keys = pa.array([r[0] for r in cur.fetchall()], type=pa.string())
    have = ch_keys.column("k").combine_chunks().cast(pa.string())
    gone = pc.filter(have, pc.invert(pc.is_in(have, value_set=pg_keys))).to_pylist()
    return [int(k) for k in gone] if key.arrow == pa.int64() else list(gone)


def scalar_int(ch: Client, sql: str, parameters: dict[str, Any] | None = None) -> int:
    """The single integer a query answers (`count()` and the like)."""
    return int(ch.query(sql, parameters=parameters or {}).result_rows[0][0])


def delete_keys(ch: Client, table: str, column: str, keys: list[Any]) -> int:
    """Delete rows whose `column` is in `keys` (lightweight DELETE, in chunks); rows deleted."""
    deleted = 0
    for start in range(0, len(keys), DELETE_CHUNK):
        chunk = keys[start : start + DELETE_CHUNK]
        params = {"keys": chunk}
        typ = "Int64" if isinstance(chunk[0], int) else "String"
        where = f"has({{keys:Array({typ})}}, `{column}`)"
        count = scalar_int(ch, f"select count() from `{table}` where {where}", params)
        if count:
            ch.command(f"delete from `{table}` where {where}", parameters=params)
            deleted += count
    return deleted


def replicate_table(
    pg: psycopg.Connection[Any], ch: Client, spec: TableSpec, now: dt.datetime | None = None
) -> TableResult:
    """Copy the changes of one table since its watermark, delete vanished rows, move the mark.

    `pg` must not be inside a transaction: this opens its own read-only snapshot.
    """
    now = now or dt.datetime.now(dt.UTC)
    ch.command(create_sql(spec))
    mark = read_watermark(ch, spec.table)
    schema = arrow_schema(spec)
    copied = 0
    with pg.transaction():
        pg.execute("set transaction isolation level repeatable read read only")
        sql, params = _changes_query(spec, mark, ch)
        with pg.cursor(name=f"repl_{spec.table}") as cur:
            cur.execute(sql, params)
            for batch in _batches(cur, schema, now):
                ch.insert_arrow(spec.table, batch)
                copied += batch.num_rows
                mark = _advance(spec, mark, batch)
        with pg.cursor() as cur:
            gone = _missing_keys(cur, ch, spec)
    deleted = delete_keys(ch, spec.table, spec.key, gone) if gone else 0
    result = TableResult(spec.table, copied, deleted, mark)
    _write_watermark(ch, result, now)
    return result
