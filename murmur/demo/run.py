"""`murmur demo`: a realistic campaign through the whole platform, step by step, with a report.

stack up (Postgres and ClickHouse; the rest and Dagster in the background, `stack_up`) →
migrations → seed and import (the import report) → one Dagster run materializes replication,
dbt and the SQL segments (`dagster_runs`) → the newsletter is scheduled and the
`due_campaigns_sensor` of the running Dagster daemon launches its partitioned send (without a
Dagster service the shards run as `python -m sender send`) while the ESP simulator turns each
mail into events that come back through the receiver, Kafka and the consumer into ClickHouse →
once the last of them landed, a Dagster run refreshes the marts → a summary from the marts →
the URLs to click next. Re-running is safe: the seed finds what it made, and a newsletter that
was already sent is copied into a fresh draft first.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from murmur.demo import content, dagster_runs, steps
from murmur.demo.seed import SeedOptions, SeedResult, new_campaign_copy, seed
from murmur.demo.stack_up import Background, stack_up
from murmur.demo.summary import campaign_report, format_report
from murmur.settings import Settings

Say = Callable[[str], None]
SENSOR_GRACE = 180.0  # seconds for the sensor to move the campaign out of `scheduled`


@dataclass(frozen=True)
class DemoOptions:
    contacts: int = 20_000
    seed: int = 7
    reset: bool = False
    start_stack: bool = True  # False: the services are already up (tests, a remote stack)
    use_dagster: bool = True  # start the Dagster service and let its sensor launch the send
    timeout: float = 1800.0  # per waiting step


@dataclass
class DemoResult:
    seeded: SeedResult
    campaign_id: int
    counters: dict[str, int]
    ledger: dict[str, Any]
    report: dict[str, Any]
    seconds: dict[str, float]


@contextmanager
def _step(name: str, say: Say, seconds: dict[str, float]) -> Iterator[None]:
    say(f"[{len(seconds) + 1}] {name} ...")
    started = time.perf_counter()
    yield
    seconds[name] = time.perf_counter() - started
    say(f"    done in {seconds[name]:.1f}s")


def _running(settings: Settings, name: str) -> str | None:
    """The URL of a running stack service (or '' when it has none), None when it is not up."""
    from murmur.stack.manager import STACK_UP_SERVICES, Stack

    if name not in STACK_UP_SERVICES:
        return None
    status = Stack(settings.state_dir, [name]).status()[0]
    if not status.healthy:
        return None
    return next(iter(status.urls.values()), "")


def _say_seed(result: SeedResult, say: Say) -> None:
    c = result.import_counts
    say(
        f"      import {result.import_id}: {c['total_rows']:,} rows: {c['inserted']:,} new, "
        f"{c['updated']:,} updated, {c['unchanged']:,} unchanged, {c['duplicates']:,} "
        f"duplicates (last row won), {c['error_rows']:,} rejected"
    )
    say("      import report (first rows):")
    for line in result.error_sample:
        say(f"        {line[:140]}")
    say(f"      {result.suppressed:,} addresses on the suppression list from the previous ESP")
    say(f"      account {result.account_id} ({content.ACCOUNT_NAME}); dashboard logins:")
    for email, role, password in result.users:
        say(f"        {email:<32} {role:<7} password {password}")
    say(f"      admin API key: {result.api_key}")
    names = ", ".join(f"{n} ({i})" for n, i in result.campaigns.items())
    say(
        f"      {len(result.templates)} MJML templates, {len(result.segments)} segments, "
        f"campaigns: {names}"
    )


def _schedule(settings: Settings, account_id: uuid.UUID, campaign_id: int, say: Say) -> int:
    """Schedule the newsletter now (a sent one is copied first); its id."""
    from murmur.db.engine import make_engine
    from murmur.domain.campaigns import check_send, get_campaign, schedule_checked

    engine = make_engine(settings.require("postgres_url"), pool_size=1, max_overflow=1)
    try:
        with engine.connect() as conn:
            status = (get_campaign(conn, account_id, campaign_id) or {}).get("status")
        if status != "draft":
            copy = new_campaign_copy(settings, account_id, campaign_id)
            say(f"      campaign {campaign_id} is {status}: sending a fresh copy, {copy}")
            campaign_id = copy
        with engine.begin() as conn:
            check = check_send(conn, account_id, campaign_id)
            if check is None:
                raise RuntimeError(f"campaign {campaign_id} vanished")
            row = schedule_checked(conn, account_id, check, "demo")
        say(f"      campaign {campaign_id} {row['status']} at {row['scheduled_at']:%H:%M:%S}")
        return campaign_id
    finally:
        engine.dispose()


Refresh = Callable[[Settings, Say, str], None]  # (settings, say, stage: before/after send)


def run_demo(
    settings: Settings,
    options: DemoOptions,
    say: Say = print,
    refresh: Refresh | None = None,
) -> DemoResult:
    """Every step of the demo; raises with the failing step (the caller prints it).

    `refresh(settings, say, stage)` materializes replication, dbt and the segments before the
    send (`dagster_runs.BEFORE_SEND`) and the marts after it (`AFTER_SEND`); by default one
    Dagster run each in the demo's Dagster worker process (`murmur.demo.dagster_runs`),
    started after the migrations so that it loads while the demo seeds.
    """
    from murmur.clickhouse import ensure_database
    from murmur.db.migrate import upgrade

    seconds: dict[str, float] = {}
    background = None
    with _step("local stack up", say, seconds):
        if options.start_stack:
            background = stack_up(settings, say, options.use_dagster)
        else:
            say("      using the services already running")
    with _step("migrations", say, seconds):
        upgrade(settings.require("postgres_url"))
        ensure_database(settings.resolved())
    if refresh is not None:
        return _run(settings, options, say, refresh, background, seconds)
    worker = dagster_runs.Worker(settings)  # imports Dagster and dbt while the demo seeds
    try:
        return _run(settings, options, say, worker.refresh, background, seconds)
    finally:
        worker.close()


def _run(
    settings: Settings,
    options: DemoOptions,
    say: Say,
    refresh: Refresh,
    background: Background | None,
    seconds: dict[str, float],
) -> DemoResult:
    """The demo's steps after the migrations."""
    from murmur.cli.contacts import ProgressBar

    with _step(f"seed {options.contacts:,} contacts and import them", say, seconds):
        bar = ProgressBar()
        try:
            seeded = seed(
                settings,
                SeedOptions(options.contacts, options.seed, options.reset),
                say=lambda m: say(f"      {m}"),
                progress=bar,
            )
        finally:
            bar.close()
        _say_seed(seeded, say)
    with _step("Dagster: replication, dbt and segments", say, seconds):
        if background is not None:
            background.wait_services(say, options.timeout)
        refresh(settings, say, dagster_runs.BEFORE_SEND)
    campaign_id = seeded.campaigns[content.SEND_CAMPAIGN]
    with _step("schedule the newsletter", say, seconds):
        campaign_id = _schedule(settings, seeded.account_id, campaign_id, say)
    with _step("send: the partitioned send job", say, seconds):
        procs = None
        if background is not None and options.use_dagster:
            say("      waiting for the Dagster service to answer ...")
            background.wait_dagster(say, options.timeout)
        if _running(settings, "dagster") is not None:
            say("      due_campaigns_sensor launches one run per shard (ticks every 5 s)")
            if not steps.wait_for_launch(settings, campaign_id, say, SENSOR_GRACE):
                say(f"      no run launched in {SENSOR_GRACE:.0f}s: sending without Dagster")
                procs = steps.send_without_dagster(settings, campaign_id, say)
        else:
            procs = steps.send_without_dagster(settings, campaign_id, say)
        path = settings.state_dir / "simulator" / "ledger.json"
        simulating = _running(settings, "simulator") is not None
        also = (lambda: steps.simulator_progress(path, campaign_id)) if simulating else None
        counters = steps.wait_for_send(settings, campaign_id, say, options.timeout, procs, also)
    ledger: dict[str, Any] = {}
    with _step("ESP simulator: the last events back through the webhooks and Kafka", say, seconds):
        if not simulating:
            say("      the simulator is not running: no events will come back")
        else:
            ledger = steps.wait_for_simulator(
                path, campaign_id, counters["sent"], say, options.timeout
            )
            posted = sum(int(v) for v in ledger.get("events", {}).values())
            steps.wait_for_events(settings, campaign_id, posted, say, options.timeout)
    with _step("Dagster: analytics refresh of the marts", say, seconds):
        refresh(settings, say, dagster_runs.AFTER_SEND)
    report = campaign_report(settings, seeded.account_id, campaign_id)
    say("Summary (from the campaign_performance and deliverability marts):")
    for line in format_report(report):
        say(line)
    return DemoResult(seeded, campaign_id, counters, ledger, report, seconds)


def say_next(settings: Settings, say: Say) -> None:
    """Where to click next, and how to stop."""
    say("Next:")
    dagster = _running(settings, "dagster")
    if dagster:
        say(f"  Dagster UI    {dagster}  (the demo's asset runs, campaign_send_job)")
    dashboards = _running(settings, "dashboards")
    if dashboards:
        say(f"  dashboards    {dashboards}  (log in with a user above)")
    ingestion = _running(settings, "ingestion")
    if ingestion:
        say(f"  receiver      {ingestion}/healthz (webhooks and tracking)")
    say(
        "  REST API      `murmur api serve`, then http://127.0.0.1:8000/api/v1/docs "
        "(the admin API key above)"
    )
    say(f"  sent mail     {settings.state_dir.resolve()}/maildir (cur/: read by the simulator)")
    say(f"  simulator     {settings.state_dir.resolve()}/simulator/ledger.json")
    say("  stop          `murmur stack down`")
