"""Computing a segment's membership in ClickHouse, previewing a definition, showing its SQL.

`refresh_criteria_segment` compiles a criteria segment (murmur.domain.segment_sql) and writes
its membership and history (murmur.analytics.segments); `refresh_dbt_segment` does the same
with the table a dbt segment model built. Both mirror the result (size, time) into the
Postgres row, so the API answers without ClickHouse. The Dagster assets call these.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from clickhouse_connect.driver.client import Client

from murmur.analytics.segments import (
    MembershipResult,
    ensure_segment_tables,
    event_rollup_ready,
    utc,
    write_membership,
)
from murmur.db.tables import segments
from murmur.domain.segment_sql import CompiledSegment, SegmentSqlError, compile_segment

DBT_SEGMENTS_DIR = "dbt_project/models/segments"
PREVIEW_SAMPLE_MAX = 100
# a preview is an interactive query: bounded in time and memory whatever the definition
PREVIEW_SETTINGS = {"max_execution_time": 30, "max_memory_usage": 2_000_000_000}


class SegmentRefreshError(ValueError):
    """The segment cannot be computed (missing, wrong kind, retired, invalid definition)."""


@dataclass(frozen=True)
class Preview:
    size: int
    sample: list[int]


def load_segment(
    conn: sa.Connection, segment_id: int, account_id: uuid.UUID | None = None
) -> dict[str, Any]:
    """The segment's row (of `account_id` when given); SegmentRefreshError when absent."""
    query = sa.select(segments).where(segments.c.segment_id == segment_id)
    if account_id is not None:
        query = query.where(segments.c.account_id == account_id)
    row = conn.execute(query).mappings().one_or_none()
    if row is None:
        raise SegmentRefreshError(f"segment {segment_id} not found")
    return dict(row)


def compile_row(row: dict[str, Any], now: datetime, *, rollup: bool = False) -> CompiledSegment:
    """The compiled SELECT of a criteria segment row (`rollup`: see `compile_segment`)."""
    if row["kind"] != "criteria":
        raise SegmentRefreshError(
            f"segment {row['segment_id']} is a {row['kind']} segment, not a criteria segment"
        )
    try:
        return compile_segment(row["definition"], row["account_id"], utc(now), rollup=rollup)
    except SegmentSqlError as exc:
        raise SegmentRefreshError(f"segment {row['segment_id']}: {exc}") from None


def dbt_select(row: dict[str, Any]) -> CompiledSegment:
    """The SELECT of a dbt segment's members from the table its model built."""
    model = row["dbt_model"]
    if row["kind"] != "dbt" or not isinstance(model, str) or not model.isidentifier():
        raise SegmentRefreshError(f"segment {row['segment_id']} has no valid dbt model")
    # the model name is validated as an identifier on write (API pattern), and quoted here
    sql = f"select contact_id from `{model}` where account_id = {{account:UUID}}"
    return CompiledSegment(sql, {"account": row["account_id"]}, (model,))


def record_refresh(conn: sa.Connection, segment_id: int, result: MembershipResult) -> None:
    """Mirror a refresh into the Postgres row, unless a later refresh got there first."""
    conn.execute(
        segments.update()
        .where(
            segments.c.segment_id == segment_id,
            sa.or_(
                segments.c.last_computed_at.is_(None),
                segments.c.last_computed_at <= result.computed_at,
            ),
        )
        .values(last_computed_at=result.computed_at, size=result.size)
    )


def _refresh(
    engine: sa.Engine,
    ch: Client,
    row: dict[str, Any],
    compiled: CompiledSegment,
    now: datetime,
    ensure: bool,
) -> MembershipResult:
    if row["status"] != "active":
        raise SegmentRefreshError(f"segment {row['segment_id']} is retired")
    if ensure:
        ensure_segment_tables(ch)
    result = write_membership(
        ch,
        account_id=row["account_id"],
        segment_id=int(row["segment_id"]),
        select_sql=compiled.sql,
        parameters=compiled.parameters,
        computed_at=now,
        unique=compiled.unique,
    )
    with engine.begin() as conn:
        record_refresh(conn, int(row["segment_id"]), result)
    return result


def refresh_criteria_segment(
    engine: sa.Engine, ch: Client, segment_id: int, now: datetime, *, ensure: bool = True
) -> MembershipResult:
    """Compile a criteria segment at `now` and replace its membership (history recorded)."""
    with engine.connect() as conn:
        row = load_segment(conn, segment_id)
    compiled = compile_row(row, now, rollup=event_rollup_ready(ch))
    return _refresh(engine, ch, row, compiled, now, ensure)


def refresh_dbt_segment(
    engine: sa.Engine, ch: Client, segment_id: int, now: datetime, *, ensure: bool = True
) -> MembershipResult:
    """Copy the rows of a dbt segment's model (for its account) into the membership."""
    with engine.connect() as conn:
        row = load_segment(conn, segment_id)
    return _refresh(engine, ch, row, dbt_select(row), now, ensure)


def refresh_segment(
    engine: sa.Engine, ch: Client, segment_id: int, now: datetime, *, ensure: bool = True
) -> MembershipResult:
    """Refresh a segment of either kind."""
    with engine.connect() as conn:
        row = load_segment(conn, segment_id)
    if row["kind"] == "dbt":
        compiled = dbt_select(row)
    else:
        compiled = compile_row(row, now, rollup=event_rollup_ready(ch))
    return _refresh(engine, ch, row, compiled, now, ensure)


def preview(
    ch: Client,
    account_id: uuid.UUID,
    definition: Any,
    now: datetime,
    sample: int = 20,
) -> Preview:
    """Size and the first `sample` contact ids (ascending) of an unsaved definition."""
    try:
        compiled = compile_segment(definition, account_id, utc(now), rollup=event_rollup_ready(ch))
    except SegmentSqlError as exc:
        raise SegmentRefreshError(str(exc)) from None
    limit = max(0, min(sample, PREVIEW_SAMPLE_MAX))
    params = {**compiled.parameters, "preview_limit": limit}
    size = ch.query(
        f"select count() from ({compiled.sql})", parameters=params, settings=PREVIEW_SETTINGS
    ).result_rows[0][0]
    ids = ch.query(
        f"select contact_id from ({compiled.sql}) order by contact_id"
        " limit {preview_limit:UInt64}",
        parameters=params,
        settings=PREVIEW_SETTINGS,
    ).result_rows
    return Preview(size=int(size), sample=[int(r[0]) for r in ids])


def shown_sql(row: dict[str, Any], now: datetime, *, rollup: bool = True) -> dict[str, Any]:
    """What `GET /segments/{id}/sql` shows: the compiled SQL and parameters, or the dbt model.

    Criteria are shown as a refresh runs them where the ingest-time rollup is ready (`rollup`).
    """
    if row["kind"] == "dbt":
        model = row["dbt_model"]
        return {
            "kind": "dbt",
            "dbt_model": model,
            "sql_path": f"{DBT_SEGMENTS_DIR}/{model}.sql",
            "sql": dbt_select(row).sql,
            "parameters": {"account": str(row["account_id"])},
            "tables": [model],
        }
    compiled = compile_row(row, now, rollup=rollup)
    return {
        "kind": "criteria",
        "dbt_model": None,
        "sql_path": None,
        "sql": compiled.sql,
        "parameters": {k: _jsonable(v) for k, v in compiled.parameters.items()},
        "tables": list(compiled.tables),
    }


def _jsonable(value: Any) -> Any:
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return value.isoformat() if hasattr(value, "isoformat") else str(value)
