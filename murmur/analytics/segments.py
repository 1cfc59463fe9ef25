"""Segment membership in ClickHouse: one current table and an SCD2 history, whatever the kind.

`segment_membership` holds the current members of every segment (dbt or criteria), partitioned
by `segment_id`. A refresh writes the new set into a private stage table and swaps it in with
`ALTER TABLE ... REPLACE PARTITION`, which is atomic: a reader sees the old set or the new one,
never a half-written one.

`segment_membership_history` holds one row per stay of a contact in a segment: `valid_from`
(the refresh that found it) to `valid_to` (the refresh that no longer did; `OPEN_END` while it
stays). Leaving closes a stay by inserting a newer version of the same row (the table is a
`ReplacingMergeTree(recorded_at)`, read with `FINAL`), so nothing is updated in place. The
delta is computed against the open history rows, not against the current table, and written
before the swap: a refresh that dies half-way is repaired by the next one.

`segment_refreshes` logs every refresh (size, added, removed), which answers "last computed"
for an empty segment too. Two refreshes of one segment must not run at the same time (the
Dagster partition of a segment runs one at a time).
"""

from __future__ import annotations

import datetime as dt
import uuid
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from clickhouse_connect.driver.client import Client

from murmur.analytics.side_by_side import Statement, run_both, writes_side_by_side

MEMBERSHIP_TABLE = "segment_membership"
HISTORY_TABLE = "segment_membership_history"
REFRESHES_TABLE = "segment_refreshes"
STAGE_PREFIX = "_segment_stage_"
# the valid_to of a stay that has not ended (DateTime64's range ends in 2299)
OPEN_END = dt.datetime(2299, 12, 31, tzinfo=dt.UTC)
STALE_STAGE = dt.timedelta(hours=6)
_RESERVED = ("seg_account", "seg_segment", "seg_at", "seg_open")
# the ingest-time rollup of events per contact (ingestion.consumer.schema.ROLLUP_TABLE), and the
# comment the consumer's DDL gives it once backfilled
ROLLUP_TABLE = "contact_last_events"
ROLLUP_READY = "ready"
_ROLLUP_SEEN: weakref.WeakKeyDictionary[Client, bool] = weakref.WeakKeyDictionary()

_TS = "DateTime64(6, 'UTC')"
# For the SELECT of a segment: no index analysis with IN sets (it keeps and sorts, say, 300k
# opened contacts to prune no granule), no DISTINCT in key order (it merges the read streams).
SELECT_SETTINGS = {"use_index_for_in_with_subqueries": 0, "optimize_distinct_in_order": 0}
# For the history's inserts: no replacing within the inserted block (no statement writes one
# key twice, and readers use FINAL), which spares sorting and merging every block on insert.
HISTORY_SETTINGS = {**SELECT_SETTINGS, "optimize_on_insert": 0}

# the membership table's shape, which a stage table must share for REPLACE PARTITION
_MEMBERSHIP_SHAPE = f"""(
  `account_id` UUID,
  `segment_id` Int64,
  `contact_id` Int64,
  `computed_at` {_TS}
) engine = MergeTree partition by segment_id order by (account_id, segment_id, contact_id)"""

DDL = (
    f"create table if not exists `{MEMBERSHIP_TABLE}` {_MEMBERSHIP_SHAPE}",
    f"""create table if not exists `{HISTORY_TABLE}` (
  `account_id` UUID,
  `segment_id` Int64,
  `contact_id` Int64,
  `valid_from` {_TS},
  `valid_to` {_TS},
  `recorded_at` {_TS}
) engine = ReplacingMergeTree(recorded_at)
order by (account_id, segment_id, contact_id, valid_from)""",
    f"""create table if not exists `{REFRESHES_TABLE}` (
  `account_id` UUID,
  `segment_id` Int64,
  `computed_at` {_TS},
  `size` UInt64,
  `added` UInt64,
  `removed` UInt64
) engine = MergeTree order by (account_id, segment_id, computed_at)""",
)


class MembershipError(RuntimeError):
    """A membership write or read that cannot proceed (bad arguments, failed query)."""


@dataclass(frozen=True)
class MembershipResult:
    """What one refresh wrote: the new size, who joined and left, and its time."""

    size: int
    added: int
    removed: int
    computed_at: dt.datetime


@dataclass(frozen=True)
class SegmentStats:
    """The current size of a segment and when it was last computed (None: never)."""

    size: int
    computed_at: dt.datetime | None


def ensure_segment_tables(client: Client) -> None:
    """Create the membership, history and refresh-log tables; drop stage tables left by crashes."""
    for statement in DDL:
        client.command(statement)
    rows = client.query(
        "select name from system.tables where database = currentDatabase()"
        " and startsWith(name, {p:String}) and metadata_modification_time < {t:DateTime}",
        parameters={"p": STAGE_PREFIX, "t": _naive(utc(dt.datetime.now(dt.UTC)) - STALE_STAGE)},
    ).result_rows
    for (name,) in rows:
        client.command(f"drop table if exists `{name}`")


def event_rollup_ready(client: Client) -> bool:
    """Whether the ingest-time rollup `contact_last_events` exists and has been backfilled.

    A yes is remembered for the client's life (a client stays on one database, and a ready
    rollup never goes back to pending), so a run refreshing many segments asks once.
    """
    if _ROLLUP_SEEN.get(client):
        return True
    rows = client.query(
        "select count() from system.tables where database = currentDatabase()"
        " and name = {t:String} and comment = {c:String}",
        parameters={"t": ROLLUP_TABLE, "c": ROLLUP_READY},
    ).result_rows
    ready = bool(rows and rows[0][0])
    if ready:
        _ROLLUP_SEEN[client] = True
    return ready


def utc(value: dt.datetime) -> dt.datetime:
    """`value` as an aware UTC datetime (a naive one is taken to be UTC already)."""
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def _naive(value: dt.datetime) -> dt.datetime:
    return utc(value).replace(tzinfo=None)


def _written(summary: Any) -> int:
    return int(getattr(summary, "written_rows", 0) or 0)


def write_membership(
    client: Client,
    *,
    account_id: uuid.UUID,
    segment_id: int,
    select_sql: str,
    parameters: dict[str, Any],
    computed_at: dt.datetime,
    unique: bool = False,
) -> MembershipResult:
    """Replace a segment's current members with what `select_sql` returns; record the history.

    `select_sql` is a ClickHouse SELECT returning one column `contact_id` (duplicates are
    collapsed, unless the caller knows there are none: `unique`); its `parameters` are bound
    server-side (`{name:Type}`), so no value is ever formatted into the SQL. Parameter names
    starting with `seg_` are reserved. The tables must exist (`ensure_segment_tables`).

    Every row stays on the server: the members are selected into the stage, the history
    change set is computed from the stage and the open stays. On a client without a session
    the two independent history statements run side by side, as do the stage's drop and the
    refresh log (a session runs one statement at a time).
    """
    if not isinstance(segment_id, int) or isinstance(segment_id, bool) or segment_id <= 0:
        raise MembershipError(f"segment_id must be a positive integer, got {segment_id!r}")
    clash = sorted(k for k in parameters if k.startswith("seg_"))
    if clash:
        raise MembershipError(f"parameter names starting with seg_ are reserved: {clash}")
    at = utc(computed_at)
    params = {
        **parameters,
        "seg_account": account_id,
        "seg_segment": segment_id,
        "seg_at": at,
        "seg_open": OPEN_END,
    }
    side_by_side = writes_side_by_side(client)
    stage = f"{STAGE_PREFIX}{segment_id}_{uuid.uuid4().hex[:12]}"
    drop = Statement(f"drop table if exists `{stage}`", {})
    dropped = False
    try:
        size = _written(
            client.command(
                f"create table `{stage}` {_MEMBERSHIP_SHAPE}"
                " as select {seg_account:UUID} as account_id, {seg_segment:Int64} as segment_id,"
                f" contact_id, {{seg_at:{_TS}}} as computed_at"
                f" from (select {'' if unique else 'distinct '}toInt64(contact_id) as contact_id"
                f" from ({select_sql}) where contact_id is not null)",
                parameters=params,
                settings=SELECT_SETTINGS,
            )
        )
        left, joined = run_both(client, side_by_side, *_history_statements(stage, params))
        removed, added = _written(left), _written(joined)
        # an empty stage has no partition to replace with: dropping is the same swap
        swap = f"replace partition id '{segment_id:d}' from `{stage}`"
        if size == 0:
            swap = f"drop partition id '{segment_id:d}'"
        client.command(f"alter table `{MEMBERSHIP_TABLE}` {swap}")
        log = Statement(
            f"insert into `{REFRESHES_TABLE}`"
            " (account_id, segment_id, computed_at, size, added, removed)"
            " select {seg_account:UUID}, {seg_segment:Int64}, "
            f"{{seg_at:{_TS}}}, {{seg_size:UInt64}}, {{seg_added:UInt64}}, {{seg_removed:UInt64}}",
            {
                "seg_account": account_id,
                "seg_segment": segment_id,
                "seg_at": at,
                "seg_size": size,
                "seg_added": added,
                "seg_removed": removed,
            },
        )
        dropped = True
        run_both(client, side_by_side, log, drop)
    finally:
        if not dropped:
            client.command(drop.sql)
    return MembershipResult(size=size, added=added, removed=removed, computed_at=at)


_OPEN_STAYS = (
    f"select account_id, segment_id, contact_id, valid_from from `{HISTORY_TABLE}` final"
    " where account_id = {seg_account:UUID} and segment_id = {seg_segment:Int64}"
    f" and valid_to = {{seg_open:{_TS}}}"
)


def _history_statements(stage: str, params: dict[str, Any]) -> tuple[Statement, Statement]:
    """Close the open stays of contacts not in `stage`; open stays for newcomers.

    The two are independent (each writes rows of contacts the other does not read), so they
    may run at the same time: their written rows are (left, joined).
    """
    insert = (
        f"insert into `{HISTORY_TABLE}`"
        " (account_id, segment_id, contact_id, valid_from, valid_to, recorded_at)"
    )
    leave = Statement(
        f"{insert} select account_id, segment_id, contact_id, valid_from, {{seg_at:{_TS}}},"
        f" {{seg_at:{_TS}}} from ({_OPEN_STAYS})"
        f" where contact_id not in (select contact_id from `{stage}`)",
        params,
        HISTORY_SETTINGS,
    )
    join = Statement(
        f"{insert} select account_id, segment_id, contact_id, computed_at, {{seg_open:{_TS}}},"
        f" computed_at from `{stage}`"
        f" where contact_id not in (select contact_id from ({_OPEN_STAYS}))",
        params,
        HISTORY_SETTINGS,
    )
    return leave, join


def members_at(
    client: Client,
    account_id: uuid.UUID,
    segment_id: int,
    at: dt.datetime | None = None,
    after_contact_id: int | None = None,
    limit: int = 100,
) -> list[int]:
    """Member contact ids in ascending order, after `after_contact_id` (keyset paging).

    With `at`, the members at that instant from the history (a refresh at exactly `at` counts);
    without, the current members.
    """
    if limit <= 0:
        return []
    params: dict[str, Any] = {
        "seg_account": account_id,
        "seg_segment": segment_id,
        "after": after_contact_id if after_contact_id is not None else -(2**63),
        "limit": limit,
    }
    if at is None:
        sql = (
            f"select contact_id from `{MEMBERSHIP_TABLE}`"
            " where account_id = {seg_account:UUID} and segment_id = {seg_segment:Int64}"
            " and contact_id > {after:Int64} order by contact_id limit {limit:UInt64}"
        )
    else:
        params["seg_at"] = utc(at)
        sql = (
            f"select distinct contact_id from `{HISTORY_TABLE}` final"
            " where account_id = {seg_account:UUID} and segment_id = {seg_segment:Int64}"
            f" and valid_from <= {{seg_at:{_TS}}} and valid_to > {{seg_at:{_TS}}}"
            " and contact_id > {after:Int64} order by contact_id limit {limit:UInt64}"
        )
    return [int(r[0]) for r in client.query(sql, parameters=params).result_rows]


def segment_stats(client: Client, account_id: uuid.UUID, segment_id: int) -> SegmentStats:
    """The segment's current size and its last refresh time (size 0 and None: never computed)."""
    params = {"seg_account": account_id, "seg_segment": segment_id}
    where = " where account_id = {seg_account:UUID} and segment_id = {seg_segment:Int64}"
    size = int(
        client.query(
            f"select count() from `{MEMBERSHIP_TABLE}`{where}", parameters=params
        ).result_rows[0][0]
    )
    rows = client.query(
        f"select max(computed_at), count() from `{REFRESHES_TABLE}`{where}", parameters=params
    ).result_rows
    last = rows[0][0] if rows and rows[0][1] else None
    return SegmentStats(size=size, computed_at=utc(last) if last is not None else None)


def drop_segment_membership(client: Client, account_id: uuid.UUID, segment_id: int) -> None:
    """Empty a segment's current membership (a retired or deleted segment); history is kept.

    The open stays are closed now, so point-in-time answers end where the segment did.
    """
    write_membership(
        client,
        account_id=account_id,
        segment_id=segment_id,
        select_sql="select toInt64(0) as contact_id where 0",
        parameters={},
        computed_at=dt.datetime.now(dt.UTC),
    )


def stream_member_ids(
    client: Client, account_id: uuid.UUID, segment_id: int, block_rows: int = 50_000
) -> Iterator[list[int]]:
    """The current members in blocks of at most `block_rows` ids (bounded memory)."""
    sql = (
        f"select contact_id from `{MEMBERSHIP_TABLE}`"
        " where account_id = {seg_account:UUID} and segment_id = {seg_segment:Int64}"
    )
    with client.query_column_block_stream(
        sql,
        parameters={"seg_account": account_id, "seg_segment": segment_id},
        settings={"max_block_size": block_rows},
    ) as stream:
        for block in stream:
            ids = [int(c) for c in block[0]]
            for start in range(0, len(ids), block_rows):
                yield ids[start : start + block_rows]
