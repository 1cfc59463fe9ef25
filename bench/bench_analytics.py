"""A full `dbt build` of the analytics models vs the incremental refresh after new events.

`.venv/bin/python bench/bench_analytics.py [--events N] [--sends N] [--new-events N]`

Uses MURMUR_CLICKHOUSE_URL when set, else starts a throwaway local ClickHouse server (and stops
it). In a fresh database it generates, directly in ClickHouse (`insert ... select from
numbers()`), the raw tables the replication writes and the consumer's `events`: `--sends` (1M)
ledger rows over 30 days, 100 campaigns, 10 accounts and a contact per 5 sends, and `--events`
(10M) events on those sends (deliveries, opens, machine opens, clicks, bounces, complaints,
unsubscribes). Then:

1. full: `dbt build --full-refresh` (every model and test, the CLI a data engineer runs);
2. one refresh, unmeasured (the 5-minute schedule's previous run: the steady state the
   measured refresh starts from; it also builds, once, the outcomes' moved-events table that a
   full build drops: one pass over every event), then `--new-events` (100k) new events on
   today's sends;
3. incremental: the `analytics_refresh` job as Dagster runs it every 5 minutes, less its
   replication asset (no Postgres here): in a fresh process that has loaded the code location
   (`pipelines.definitions`, as a run worker does), the job's own definition (its dbt models,
   the marts' tests as asset checks, its resources and in-process executor) runs with
   `execute_in_process`. The time is that whole call: Dagster's run, the step's look-ups, the
   in-process dbt build, the events. Not counted: launching the run worker and loading the
   code location;
4. for information (no target): the `analytics_daily_refresh` job for yesterday's partition
   (the newest one: a day's partition exists once the day is over), the same way.

Each build prints its slowest nodes (target/run_results.json). Targets: incremental <= 10 s and
incremental / full <= 0.10. Exits 1 when one is missed. One run of each (a repetition of the
full build takes minutes); `--reps` repeats the incremental.

Diagnostics: each Dagster step also prints its process's CPU seconds (steadier than wall time
on a shared machine), and with MURMUR_BENCH_PROFILE=FILE the refresh is profiled (cProfile:
FILE for the run's thread, FILE.threadN for dbt's threads; `python -m pstats FILE`; with
MURMUR_BENCH_PROFILE_CLOCK=cpu, of each thread's CPU time instead of wall time); each step also
prints the events its run wrote to the Dagster instance, by type.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import REPO, Target, median, report
from ingestion.consumer.schema import ddl
from murmur.analytics.dbt_profile import write_profiles_dir
from murmur.analytics.replication import ensure_tables
from murmur.analytics.tables import SPECS
from murmur.clickhouse import ensure_database, get_client
from murmur.settings import Settings, get_settings
from pipelines.defs.dbt.project import dbt_executable, dbt_project
from pipelines.lib.dbt.partitions import vars_args
from pipelines.lib.dbt.refresh import record_views
from pipelines.lib.dbt.target import locked_target, target_dir

TARGET_SECONDS = 10.0
TARGET_RATIO = 0.10
DAYS = 30
ACCOUNTS = 10
CAMPAIGNS = 100
# event kinds by (event index // sends): most sends get a delivery and an open, fewer the rest
KINDS = (
    "delivery", "open", "open", "click", "open", "delivery", "bounce", "open", "click",
    "complaint", "unsubscribe", "open",
)  # fmt: skip


@contextmanager
def clickhouse_server() -> Iterator[str]:
    preset = os.environ.get("MURMUR_CLICKHOUSE_URL")
    if preset:
        yield preset
        return
    from murmur.stack.manager import Stack

    with tempfile.TemporaryDirectory(prefix="bench-ch-") as state:
        stack = Stack(Path(state), ["clickhouse"])
        stack.up()
        try:
            yield stack.service("clickhouse").urls()["clickhouse_url"]
        finally:
            stack.down()


def _account(expr: str) -> str:
    """A deterministic account UUID from an integer expression (0 .. ACCOUNTS-1)."""
    return f"toUUID(concat('00000000-0000-4000-8000-', leftPad(toString({expr}), 12, '0')))"


def generate(settings: Settings, sends: int, events: int) -> None:
    """The raw tables and `events`, filled in ClickHouse itself."""
    contacts = max(sends // 5, 1)
    ch = get_client(settings)
    try:
        ensure_tables(ch, SPECS)
        for statement in ddl(settings.clickhouse_database):
            ch.command(statement)
        now = "now64(6, 'UTC')"
        day0 = f"toDateTime64(today() - {DAYS - 1}, 6, 'UTC')"
        ch.command(
            "insert into raw_accounts select "
            f"{_account('number')}, concat('bench ', toString(number)), 'pro', 'acme.io',"
            f" {day0}, {now} from numbers({ACCOUNTS})"
        )
        ch.command(
            "insert into raw_campaigns select number, "
            f"{_account(f'number % {ACCOUNTS}')}, concat('campaign ', toString(number)), 'news',"
            " null, null, 'Acme', 'news@acme.io', 'acme.io', 'sent', null,"
            f" {day0}, {day0}, {now} from numbers({CAMPAIGNS})"
        )
        domains = "['gmail.com', 'yahoo.com', 'hotmail.com', 'icloud.com', 'corp.example']"
        ch.command(
            "insert into raw_contacts select number, "
            f"{_account(f'number % {ACCOUNTS}')}, hex(SHA256(toString(number))),"
            f" {domains}[number % 5 + 1], 'subscribed', '{{}}', 'bench', null,"
            f" {day0}, {day0}, {now} from numbers({contacts})"
        )
        # send n: campaign n % CAMPAIGNS, contact n % contacts, day n % DAYS
        sent_at = f"{day0} + toIntervalDay(number % {DAYS}) + toIntervalSecond(number % 80000)"
        ch.command(
            "insert into raw_emails select number + 1, "
            f"{_account(f'(number % {CAMPAIGNS}) % {ACCOUNTS}')}, number % {CAMPAIGNS},"
            f" number % {contacts}, 'sent', 'smtp', concat('m-', toString(number)), false,"
            f" {sent_at}, {sent_at}, {now} from numbers({sends})"
        )
        insert_events(ch, sends, contacts, 0, events, today_only=False)
    finally:
        ch.close()


def insert_events(
    ch: object, sends: int, contacts: int, first: int, count: int, today_only: bool
) -> None:
    """Events `first .. first+count-1`; event i is on send i % sends, kind by i // sends."""
    send = f"(number % {sends})" if not today_only else f"(number % {sends // DAYS}) * {DAYS}"
    if today_only:  # the sends of the last day: day index DAYS - 1
        send = f"({send} + {DAYS - 1})"
    day0 = f"toDateTime64(today() - {DAYS - 1}, 3, 'UTC')"
    sent_at = f"{day0} + toIntervalDay({send} % {DAYS}) + toIntervalSecond({send} % 80000)"
    kinds = "[" + ", ".join(f"'{k}'" for k in KINDS) + "]"
    kind = f"{kinds}[intDiv(number, {sends}) % {len(KINDS)} + 1]"
    offset = "toIntervalSecond(60 + intDiv(number, 7) % 3000)"
    query = (
        "insert into events (event_id, schema_version, type, timestamp, provider,"
        " provider_event_id, email_record_id, account_id, campaign_id, contact_id, esp,"
        " recipient_domain, bounce_type, url, machine_open, ingested_at)"
        f" select concat('ev-', toString(number)), 1, {kind}, {sent_at} + {offset}, 'smtp', null,"
        f" {send} + 1, {_account(f'({send} % {CAMPAIGNS}) % {ACCOUNTS}')},"
        f" {send} % {CAMPAIGNS}, {send} % {contacts}, 'smtp', 'gmail.com',"
        f" if({kind} = 'bounce', if(number % 3 = 0, 'hard', 'soft'), null),"
        f" if({kind} = 'click', concat('https://acme.io/p/', toString(number % 50)), null),"
        f" {kind} = 'open' and number % 4 = 0, now64(3, 'UTC')"
        f" from numbers({first}, {count})"
    )
    ch.command(query)  # type: ignore[attr-defined]


def dbt_build(
    settings: Settings, profiles: Path, variables: dict[str, str] | None, *args: str
) -> float:
    """One `dbt build` as the Dagster assets run it (stable target dir per profile and vars)."""
    with locked_target(settings, variables) as target:
        command = [
            dbt_executable(), "build", "--project-dir", str(REPO / "dbt_project"),
            "--profiles-dir", str(profiles), "--target-path", str(target), "--quiet",
            *vars_args(variables or {}), *args,
        ]  # fmt: skip
        start = time.perf_counter()
        done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=False)
        seconds = time.perf_counter() - start
        if done.returncode != 0:
            print(done.stdout[-4000:], done.stderr[-2000:], sep="\n")
            raise SystemExit(f"dbt build {' '.join(args)} failed (exit {done.returncode})")
        slowest(target / "run_results.json")
        record_views(target, dbt_project().manifest_path)  # as the Dagster assets do
    return seconds


def dagster_step(settings: Settings, which: str, partition: str | None = None) -> float:
    """The dbt step of a job, materialized by Dagster in a fresh process; its seconds.

    `which`: "refresh" (the `analytics_refresh` job's dbt asset and selection) or "daily" (the
    `analytics_daily_refresh` job's, for `partition`).
    """
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "MURMUR_CLICKHOUSE_URL": settings.clickhouse_url or "",
        "MURMUR_CLICKHOUSE_DATABASE": settings.clickhouse_database,
        "MURMUR_STATE_DIR": str(settings.state_dir),
    }
    command = [
        sys.executable,
        __file__,
        "--step",
        which,
        *(["--partition", partition] if partition else []),
    ]
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        print(done.stdout[-4000:], done.stderr[-4000:], sep="\n")
        raise SystemExit(f"the Dagster {which} step failed (exit {done.returncode})")
    timing = json.loads(lines[-1])
    slowest(target_dir(settings, timing["vars"] or None) / "run_results.json")
    print(f"  (the step itself: {timing['step']:.2f} s; {timing['checks']} asset checks;"
          f" the run's process CPU: {timing['cpu']:.2f} s)")  # fmt: skip
    events = timing.get("events", {})
    print(f"  ({sum(events.values())} events written to the instance: "
          + ", ".join(f"{n} {kind}" for kind, n in events.items()) + ")")  # fmt: skip
    return float(timing["total"])


@contextmanager
def _profiled() -> Iterator[None]:
    """Diagnostics: with MURMUR_BENCH_PROFILE=FILE, a cProfile of the refresh (every thread)."""
    path = os.environ.get("MURMUR_BENCH_PROFILE")
    if not path:
        yield
        return
    import cProfile
    import threading

    # MURMUR_BENCH_PROFILE_CLOCK=cpu: each thread's CPU time (time.thread_time) instead of wall
    # time, so that waits on the server, the GIL and dbt's locks do not count
    cpu = os.environ.get("MURMUR_BENCH_PROFILE_CLOCK") == "cpu"

    def new_profile() -> cProfile.Profile:
        return cProfile.Profile(time.thread_time) if cpu else cProfile.Profile()

    profiles: list[cProfile.Profile] = []

    def start_thread(*_: object) -> None:  # dbt runs in a worker thread
        profile = new_profile()
        profiles.append(profile)
        profile.enable()

    main = new_profile()
    threading.setprofile(start_thread)
    main.enable()
    try:
        yield
    finally:
        main.disable()
        threading.setprofile(None)
        for profile in profiles:
            profile.disable()
        main.dump_stats(path)
        for i, profile in enumerate(profiles):
            profile.dump_stats(f"{path}.thread{i}")


def run_step(which: str, partition: str | None) -> int:
    """In the child: load the code location, run the job's dbt asset, print the timings.

    The `analytics_refresh` job less its replication asset (there is no Postgres): its own
    selection of dbt models and checks (`refresh_selection()`), resources and executor.
    """
    import dagster as dg

    from pipelines.definitions import defs
    from pipelines.defs.analytics.schedules import refresh_selection
    from pipelines.defs.replication.assets import GROUP as REPLICATION_GROUP
    from pipelines.lib.dbt.partitions import partition_window_vars

    instance = dg.DagsterInstance.ephemeral()
    variables: dict[str, str] = {}
    if which == "refresh":
        # the job's own selection less the replication group: no subset of it, which would
        # select every check of its assets again
        dbt_only = refresh_selection() - dg.AssetSelection.groups(REPLICATION_GROUP)
        job = dg.define_asset_job(
            "analytics_refresh_dbt", selection=dbt_only, executor_def=dg.in_process_executor
        )
        resolved = dg.Definitions.merge(defs, dg.Definitions(jobs=[job])).resolve_job_def(job.name)
        start, cpu = time.perf_counter(), time.process_time()
        with _profiled():
            result = resolved.execute_in_process(instance=instance)
    else:
        daily = defs.resolve_job_def("analytics_daily_refresh")
        start, cpu = time.perf_counter(), time.process_time()
        result = daily.execute_in_process(instance=instance, partition_key=partition)
        day = dt.datetime.fromisoformat(f"{partition}T00:00:00+00:00")
        variables = partition_window_vars(day, day + dt.timedelta(days=1))
    total, cpu = time.perf_counter() - start, time.process_time() - cpu
    if not result.success:
        return 1
    stats = instance.get_run_step_stats(result.run_id)
    step = sum((s.end_time or 0) - (s.start_time or 0) for s in stats)
    checks = len(result.get_asset_check_evaluations())
    # diagnostics: the events the run wrote to the instance, by type
    written = Counter(
        e.dagster_event.event_type_value if e.dagster_event else "log"
        for e in instance.all_logs(result.run_id)
    )
    timing = {
        "total": total, "cpu": cpu, "step": step, "vars": variables, "checks": checks,
        "events": dict(written.most_common()),
    }  # fmt: skip
    print(json.dumps(timing))
    return 0


def slowest(run_results: Path, top: int = 8) -> None:
    """The nodes that took longest, and how many ran."""
    results = json.loads(run_results.read_text())["results"]
    nodes = sorted(results, key=lambda r: r["execution_time"], reverse=True)
    total = sum(r["execution_time"] for r in results)
    print(f"  {len(results)} nodes, {total:.2f} s of node time; slowest:")
    for r in nodes[:top]:
        print(f"    {r['execution_time']:7.2f} s  {r['unique_id']}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--sends", type=int, default=1_000_000)
    parser.add_argument("--new-events", type=int, default=100_000)
    parser.add_argument("--reps", type=int, default=1, help="incremental refreshes (default 1)")
    parser.add_argument("--step", choices=["refresh", "daily"], help=argparse.SUPPRESS)
    parser.add_argument("--partition", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.step:  # the child process of dagster_step
        return run_step(args.step, args.partition)
    yesterday = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    with clickhouse_server() as url, tempfile.TemporaryDirectory(prefix="bench-an-") as state:
        database = f"bench_{uuid.uuid4().hex[:10]}"
        settings = get_settings(
            clickhouse_url=url, clickhouse_database=database, state_dir=Path(state)
        )
        ensure_database(settings)
        try:
            start = time.perf_counter()
            generate(settings, args.sends, args.events)
            print(f"generated {args.events:,} events, {args.sends:,} sends in "
                  f"{time.perf_counter() - start:.1f} s", flush=True)  # fmt: skip
            profiles = write_profiles_dir(settings)
            full = dbt_build(settings, profiles, None, "--full-refresh")
            print(f"full dbt build: {full:.2f} s", flush=True)
            # steady state: the refresh that follows the build (the schedule's previous run)
            print(f"warm-up refresh: {dagster_step(settings, 'refresh'):.2f} s", flush=True)
            incremental: list[float] = []
            contacts = max(args.sends // 5, 1)
            for rep in range(args.reps):
                ch = get_client(settings)
                try:
                    first = args.events + rep * args.new_events
                    insert_events(ch, args.sends, contacts, first, args.new_events, True)
                finally:
                    ch.close()
                seconds = dagster_step(settings, "refresh")
                incremental.append(seconds)
                print(f"incremental refresh after {args.new_events:,} new events: "
                      f"{seconds:.2f} s", flush=True)  # fmt: skip
                daily = dagster_step(settings, "daily", yesterday.isoformat())
                print(f"(yesterday's daily partition: {daily:.2f} s)", flush=True)
        finally:
            ch = get_client(settings, database=False)
            try:
                ch.command(f"drop database if exists `{database}` sync")
            finally:
                ch.close()
    inc = median(incremental)
    return report(
        f"analytics refresh ({args.events:,} events, {args.sends:,} sends; full {full:.2f} s,"
        f" incremental {inc:.2f} s)",
        [
            Target("incremental refresh", inc, TARGET_SECONDS, unit=" s"),
            Target("incremental / full", inc / full, TARGET_RATIO),
        ],
    )


if __name__ == "__main__":
    raise SystemExit(main())
