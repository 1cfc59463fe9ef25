"""Materializing a criteria segment in ClickHouse vs the listmonk-style SQL in Postgres.

The segment is "opened in the last 30 days and custom field plan = 'pro' and never bounced"
over `--contacts` (1M) contacts and `--events` (20M) events.

- Subject: the criteria definition compiled by `murmur.domain.segment_sql` and written by
  `murmur.analytics.segments.write_membership` (membership swapped in, history written) on the
  local ClickHouse server. Each repetition materializes a fresh segment id, so every member is
  a new history row (the worst case of a refresh). Target: <= 1 s (median). The events are
  inserted into the consumer's `events` table, whose materialized view fills the rollup
  `contact_last_events` (ingestion.consumer.schema) as ingestion does; both event conditions
  are answered from it. The rollup is then merged (`OPTIMIZE ... FINAL`, what its
  `min_age_to_force_merge_seconds` does within the hour), as `raw_contacts` is; the bare SELECT
  over the unmerged rollup is reported too.
- Baseline: the same segment as listmonk writes it: `subscribers` with JSONB `attribs`,
  `campaign_views` and `bounces` (the two event tables listmonk keeps), with the indexes a
  careful operator adds (expression index on attribs->>'plan', views by subscriber and date,
  bounces by subscriber), materialized into a membership table in one transaction.
  Target: ClickHouse >= 10x faster (medians).
- Before every repetition of either side (untimed), both stores are let finish their
  background work (ClickHouse merges, Postgres autovacuum and the checkpoint after the load;
  at most 30 s), as they would between two hourly refreshes: each repetition then measures the
  refresh itself, not the tail of the previous one. Two warm-up repetitions per side.
- Reported, no target: the bare SELECT (before and after the rollup's merge), a re-refresh of an
  unchanged segment, and refreshing 100 different criteria segments at once (4 threads).

Both stores get the same rows: every column is an integer hash of the row number, computed in
SQL on each side, and the two member counts must agree. Exits 1 on a miss. Run:
`.venv/bin/python bench/bench_segments.py [--contacts N] [--events N] [--reps N]`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import statistics
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import clickhouse_connect
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import Target, add_reps, interleave, median, report
from ingestion.consumer.schema import ddl as consumer_ddl
from murmur.analytics.segments import ensure_segment_tables, event_rollup_ready, write_membership
from murmur.analytics.tables import CONTACTS, create_sql
from murmur.clickhouse import parse_url
from murmur.domain.segment_sql import ROLLUP_TABLE, compile_segment

DATABASE = "bench_segments"
ACCOUNT = uuid.UUID("00000000-0000-4000-8000-00000000b0b0")
NOW = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
WINDOW_S = 120 * 86_400
SEGMENT = {
    "all": [
        {"event": "opened", "within_days": 30},
        {"field": "custom_fields.plan", "op": "eq", "value": "pro"},
        {"not": {"event": "bounced"}},
    ]
}
# row n of the event stream: contact, kind bucket (0-99), seconds before NOW, campaign
CONTACT = "(({n} * 2654435761) % {c}) + 1"
BUCKET = "(({n} * 40503) % 100)"
AGO = "(({n} * 1103515245 + 12345) % {w})"
PLAN = "['free', 'basic', 'pro', 'team'][(({i} * 31) % 4) + 1]"
PG_PLAN = "(array['free', 'basic', 'pro', 'team'])[(({i} * 31) % 4) + 1]"
LISTMONK_DDL = [
    """create table subscribers (id bigint primary key, uuid uuid not null, email text not null,
        name text not null, attribs jsonb not null default '{}', status text not null,
        created_at timestamptz not null, updated_at timestamptz not null)""",
    """create table campaign_views (id bigint generated always as identity primary key,
        campaign_id int, subscriber_id bigint, created_at timestamptz not null)""",
    """create table bounces (id bigint generated always as identity primary key,
        subscriber_id bigint not null, campaign_id int, type text not null,
        created_at timestamptz not null)""",
    "create table segment_members (segment_id int not null, subscriber_id bigint not null,"
    " primary key (segment_id, subscriber_id))",
]
LISTMONK_INDEXES = [
    "create index idx_subs_plan on subscribers ((attribs ->> 'plan'))",
    "create index idx_views_subscriber on campaign_views (subscriber_id, created_at)",
    "create index idx_views_date on campaign_views (created_at)",
    "create index idx_bounces_subscriber on bounces (subscriber_id)",
]
LISTMONK_SEGMENT = """
insert into segment_members (segment_id, subscriber_id)
select %(segment)s, s.id from subscribers s
where s.attribs ->> 'plan' = 'pro'
  and exists (select 1 from campaign_views v
              where v.subscriber_id = s.id and v.created_at >= %(since)s)
  and not exists (select 1 from bounces b where b.subscriber_id = s.id)
"""


def load_clickhouse(ch: Any, contacts: int, events: int) -> None:
    """Contacts as the replication writes them, then the events as the consumer does.

    `custom_fields` is Postgres's text of the jsonb (`{"plan": "pro", "score": 7}`). The events
    go into the consumer's own `events` table (ingestion.consumer.schema), whose materialized
    view fills the rollup `contact_last_events` as ingestion does.
    """
    ch.command(create_sql(CONTACTS))
    for statement in consumer_ddl(DATABASE):
        ch.command(statement)
    ch.command(
        "insert into raw_contacts select number + 1, {a:UUID}, hex(sipHash128(number)),"
        " 'example.com', 'subscribed', concat('{\"plan\": \"', "
        + PLAN.format(i="(number + 1)")
        + ", '\", \"score\": ', toString(number % 100), '}'), 'import', null, {t:DateTime64(6)},"
        " {t:DateTime64(6)}, {t:DateTime64(6)} from numbers({c:UInt64})",
        parameters={"a": ACCOUNT, "t": NOW, "c": contacts},
    )
    kind = (
        f"multiIf({BUCKET} < 50, 'delivery', {BUCKET} < 80, 'open', {BUCKET} < 90, 'click',"
        f" {BUCKET} < 92, 'bounce', 'complaint')"
    ).format(n="number")
    at = f"{{t:DateTime64(3, 'UTC')}} - toIntervalSecond({AGO.format(n='number', w=WINDOW_S)})"
    ch.command(
        "insert into events (event_id, schema_version, type, timestamp, provider,"
        " email_record_id, account_id, campaign_id, contact_id, bounce_type, machine_open,"
        " ingested_at) select toString(number), 1, {kind}, {at}, 'bench', intDiv(number, 3),"
        " {{a:UUID}}, number % 200 + 1, {contact}, if({kind} = 'bounce', 'hard', null), false,"
        " {at} from numbers({{e:UInt64}})".format(
            kind=kind, at=at, contact=CONTACT.format(n="number", c=contacts)
        ),
        parameters={"a": ACCOUNT, "t": NOW, "e": events},
        settings={"max_insert_threads": 2},
    )
    ch.command("optimize table raw_contacts final")


def _pg(sql: str) -> str:
    """A SQL fragment for psycopg with parameters: `%` written as `%%`."""
    return sql.replace("%", "%%")


def load_postgres(pg: psycopg.Connection[Any], contacts: int, events: int) -> None:
    for statement in LISTMONK_DDL:
        pg.execute(statement)
    pg.execute(
        "insert into subscribers select i, gen_random_uuid(), 'c' || i || '@example.com', 'C',"
        " jsonb_build_object('plan', " + _pg(PG_PLAN.format(i="i")) + ", 'score', i %% 100),"
        " 'enabled', %(t)s, %(t)s from generate_series(1, %(c)s) i",
        {"t": NOW, "c": contacts},
    )
    contact = _pg(CONTACT.format(n="n", c=contacts))
    ago = _pg(AGO.format(n="n", w=WINDOW_S))
    for table, columns, low, high, extra in (
        ("campaign_views", "campaign_id, subscriber_id, created_at", 50, 79, ""),
        ("bounces", "campaign_id, subscriber_id, created_at, type", 90, 91, ", 'hard'"),
    ):
        pg.execute(
            f"insert into {table} ({columns}) select n %% 200 + 1, {contact},"
            f" %(t)s - make_interval(secs => {ago}){extra}"
            f" from generate_series(0::bigint, %(e)s - 1) n"
            f" where {_pg(BUCKET.format(n='n'))} between {low} and {high}",
            {"t": NOW, "e": events},
        )
    for statement in LISTMONK_INDEXES:
        pg.execute(statement)
    pg.execute("vacuum analyze")
    pg.execute("checkpoint")  # the load's dirty pages written now, not during the timed runs


SETTLE_S = 30.0


def settle(ch: Any, pg: psycopg.Connection[Any]) -> None:
    """Wait (at most SETTLE_S) until no ClickHouse merge and no Postgres autovacuum runs."""
    deadline = time.monotonic() + SETTLE_S
    while time.monotonic() < deadline:
        merges = ch.query("select count() from system.merges").result_rows[0][0]
        row = pg.execute(
            "select count(*) from pg_stat_activity where backend_type = 'autovacuum worker'"
        ).fetchone()
        if not merges and not (row and row[0]):
            return
        time.sleep(0.05)


def time_postgres(pg: psycopg.Connection[Any]) -> tuple[float, int]:
    since = NOW - dt.timedelta(days=30)
    start = time.perf_counter()
    with pg.transaction():
        pg.execute("delete from segment_members where segment_id = 1")
        count = pg.execute(LISTMONK_SEGMENT, {"segment": 1, "since": since}).rowcount
    return time.perf_counter() - start, count


class Subject:
    def __init__(self, ch: Any) -> None:
        self.ch = ch
        self.segment_id = 1000
        self.size = -1
        self.windows: list[tuple[float, float]] = []  # wall-clock spans of measured refreshes

    def materialize(self, segment_id: int | None = None, definition: Any = SEGMENT) -> float:
        if segment_id is None:
            self.segment_id += 1
            segment_id = self.segment_id
        start, wall = time.perf_counter(), time.time()
        compiled = compile_segment(definition, ACCOUNT, NOW, rollup=event_rollup_ready(self.ch))
        result = write_membership(
            self.ch,
            account_id=ACCOUNT,
            segment_id=segment_id,
            select_sql=compiled.sql,
            parameters=compiled.parameters,
            computed_at=dt.datetime.now(dt.UTC),
            unique=compiled.unique,
        )
        if definition is SEGMENT:
            self.size = result.size
            self.windows.append((wall, time.time()))
        return time.perf_counter() - start


def statement_breakdown(log: Path, windows: list[tuple[float, float]]) -> list[str]:
    """Median server-side milliseconds per kind of statement inside the given time spans.

    Read from the local server's JSON statement log (chdb has no `system.query_log`).
    """
    kinds: dict[str, list[float]] = {}
    for line in log.read_text(errors="replace").splitlines():
        if not line.startswith("{"):
            continue
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if record.get("event") != "query" or record.get("elapsed_ms") is None:
            continue
        ts = float(record["ts"])
        if not any(lo <= ts <= hi + 0.001 for lo, hi in windows):
            continue
        words = re.sub(r"_segment_stage_\w+", "<stage>", str(record.get("query", ""))).split()
        kinds.setdefault(" ".join(words[:4])[:60], []).append(float(record["elapsed_ms"]))
    return [
        f"    {statistics.median(v):7.1f} ms  x{len(v):<3d} {k}" for k, v in sorted(kinds.items())
    ]


def rollup_state(ch: Any) -> str:
    parts, rows = ch.query(
        "select count(), sum(rows) from system.parts where database = currentDatabase()"
        " and table = {t:String} and active",
        parameters={"t": ROLLUP_TABLE},
    ).result_rows[0]
    return f"{parts} parts, {rows:,} rows"


def bare_select(ch: Any, reps: int) -> list[float]:
    """Seconds of the segment's SELECT count() alone (the rollup must answer its events)."""
    compiled = compile_segment(SEGMENT, ACCOUNT, NOW, rollup=event_rollup_ready(ch))
    if ROLLUP_TABLE not in compiled.tables:
        raise SystemExit(f"the rollup {ROLLUP_TABLE} is not ready: {compiled.tables}")
    seconds = []
    for _ in range(reps):
        t = time.perf_counter()
        ch.query(f"select count() from ({compiled.sql})", parameters=compiled.parameters)
        seconds.append(time.perf_counter() - t)
    return seconds


def hundred_definitions() -> list[dict[str, Any]]:
    plans, kinds = ["free", "basic", "pro", "team"], ["opened", "clicked", "received"]
    return [
        {
            "all": [
                {"event": kinds[i % 3], "within_days": 7 + (i * 13) % 90},
                {"field": "custom_fields.plan", "op": "eq", "value": plans[i % 4]},
                {"field": "custom_fields.score", "op": "gte", "value": i % 50},
                *([{"not": {"event": "bounced"}}] if i % 2 else []),
            ]
        }
        for i in range(100)
    ]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--contacts", type=int, default=1_000_000)
    p.add_argument("--events", type=int, default=20_000_000)
    add_reps(p)
    a = p.parse_args()
    from murmur.stack.manager import Stack

    with tempfile.TemporaryDirectory(prefix="bench-seg-") as state:
        stack = Stack(Path(state), ["postgres", "clickhouse"])
        stack.up()
        try:
            return run(a, stack)
        finally:
            stack.down()


def run(a: argparse.Namespace, stack: Any) -> int:
    target = parse_url(stack.service("clickhouse").urls()["clickhouse_url"])
    admin = clickhouse_connect.get_client(**target.client_kwargs())
    admin.command(f"create database if not exists {DATABASE}")
    ch = clickhouse_connect.get_client(
        **target.client_kwargs(),
        database=DATABASE,
        autogenerate_session_id=False,
        send_receive_timeout=3600,  # loading 20M events takes minutes on a busy machine
    )
    pg_url = (
        stack.service("postgres").urls()["postgres_url"].replace("postgresql+psycopg", "postgresql")
    )
    with psycopg.connect(pg_url, autocommit=True) as pg:
        t = time.perf_counter()
        load_clickhouse(ch, a.contacts, a.events)
        print(f"ClickHouse loaded in {time.perf_counter() - t:.1f} s", flush=True)
        print(f"  rollup as ingested: {rollup_state(ch)}", flush=True)
        unmerged = bare_select(ch, a.reps)
        ch.command(f"optimize table {ROLLUP_TABLE} final")
        print(f"  rollup merged: {rollup_state(ch)}", flush=True)
        t = time.perf_counter()
        load_postgres(pg, a.contacts, a.events)
        print(f"Postgres loaded in {time.perf_counter() - t:.1f} s", flush=True)
        ensure_segment_tables(ch)
        subject = Subject(ch)
        pg_counts: list[int] = []

        def baseline() -> float:
            settle(ch, pg)
            seconds, count = time_postgres(pg)
            pg_counts.append(count)
            return seconds

        def materialize() -> float:
            settle(ch, pg)
            return subject.materialize()

        print(f"segment over {a.contacts:,} contacts and {a.events:,} events", flush=True)
        runs = interleave(baseline, materialize, a.reps, warmup=2)
        measured = subject.windows[-a.reps :]
    if set(pg_counts) != {subject.size}:
        print(f"MISMATCH: Postgres found {sorted(set(pg_counts))}, ClickHouse {subject.size}")
        return 1
    bare = bare_select(ch, a.reps)
    again = [subject.materialize(segment_id=subject.segment_id) for _ in range(a.reps)]
    definitions = hundred_definitions()
    t = time.perf_counter()
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda i: subject.materialize(5000 + i, definitions[i]), range(100)))
    hundred = time.perf_counter() - t
    ch_s, pg_s = median(runs.subject), median(runs.baseline)
    print(f"  members: {subject.size:,} (both stores agree)")
    print(
        f"  ClickHouse materialize (membership + history): median {ch_s:.3f} s; runs "
        + ", ".join(f"{x:.3f}" for x in runs.subject)
    )
    print(
        f"  Postgres listmonk-style: median {pg_s:.3f} s; runs "
        + ", ".join(f"{x:.3f}" for x in runs.baseline)
    )
    print(
        f"  bare ClickHouse SELECT count(): median {median(bare):.3f} s; over the unmerged"
        f" rollup {median(unmerged):.3f} s (informational)"
    )
    print(f"  re-refresh, unchanged members: median {median(again):.3f} s (informational)")
    print("  server time per statement of the measured refreshes (median, informational):")
    for line in statement_breakdown(stack.service("clickhouse").proc.logfile, measured):
        print(line)
    print(
        f"  100 criteria segments, 4 threads: {hundred:.2f} s = {hundred / 100:.3f} s each"
        " (informational)"
    )
    return report(
        f"bench_segments, median of {a.reps} interleaved repetitions",
        [
            Target("ClickHouse segment materialization", ch_s, 1.0, unit=" s"),
            Target("Postgres listmonk-style / ClickHouse", pg_s / ch_s, 10.0, False, "x"),
        ],
    )


if __name__ == "__main__":
    sys.exit(main())
