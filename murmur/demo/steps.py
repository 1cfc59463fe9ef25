"""The demo's long steps, each with progress: the send and the waits for its events.

`murmur` imports no app, so Dagster work runs as `dagster asset materialize` child processes
(`murmur.demo.dagster_runs`, with the stack's `DAGSTER_HOME`, so the runs show in the Dagster
UI), and the send without a Dagster daemon as `python -m sender send` children. Child processes
get the demo's settings as `MURMUR_*` variables, so a demo on explicit settings (the tests)
runs its children against the same databases.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from murmur.net import wait_until
from murmur.settings import Settings

if TYPE_CHECKING:
    import sqlalchemy as sa

PROJECT_DIR = Path(__file__).resolve().parents[2]
Say = Callable[[str], None]
_PASSED = (
    "postgres_url",
    "clickhouse_url",
    "clickhouse_database",
    "kafka_bootstrap_servers",
    "smtp_url",
    "tracking_base_url",
    "send_shards",
)


def child_env(settings: Settings) -> dict[str, str]:
    """The environment of a child process: ours plus the demo's resolved settings."""
    resolved = settings.resolved()
    env = dict(os.environ)
    for name in _PASSED:
        value = getattr(resolved, name)
        if value is not None:
            env[f"MURMUR_{name.upper()}"] = str(value)
    if resolved.tracking_secret is not None:
        env["MURMUR_TRACKING_SECRET"] = resolved.tracking_secret.get_secret_value()
    env["MURMUR_STATE_DIR"] = str(settings.state_dir.resolve())
    if not env.get("DAGSTER_HOME"):
        home = settings.state_dir.resolve() / "dagster"
        home.mkdir(parents=True, exist_ok=True)
        env["DAGSTER_HOME"] = str(home)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PROJECT_DIR), env.get("PYTHONPATH")) if p)
    return env


def exe(name: str) -> str:
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else name


def send_without_dagster(
    settings: Settings, campaign_id: int, say: Say
) -> list[subprocess.Popen[bytes]]:
    """Start one `python -m sender send` per shard (what each Dagster partition runs)."""
    shards = settings.send_shards
    log = settings.state_dir / "logs" / f"demo-send-{campaign_id}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    env = child_env(settings)
    procs = []
    with log.open("ab") as out:
        for shard in range(shards):
            cmd = [sys.executable, "-m", "sender", "send", str(campaign_id)]
            cmd += ["--shard", str(shard), "--shards", str(shards)]
            procs.append(subprocess.Popen(cmd, cwd=PROJECT_DIR, env=env, stdout=out, stderr=out))
    say(f"      {shards} sender process(es) started without Dagster; log {log}")
    return procs


def wait_for_launch(settings: Settings, campaign_id: int, say: Say, grace: float) -> bool:
    """True once the campaign left `scheduled` (a shard froze its audience) within `grace` s."""
    from murmur.db.engine import make_engine
    from murmur.domain.sending import campaign_row

    engine = make_engine(settings.require("postgres_url"), pool_size=1, max_overflow=1)

    def launched() -> bool:
        with engine.connect() as conn:
            return bool(campaign_row(conn, campaign_id)["status"] != "scheduled")

    try:
        wait_until(launched, grace, f"a run of campaign {campaign_id}", interval=1.0)
    except TimeoutError:
        return False
    finally:
        engine.dispose()
    say("      the sensor launched the send")
    return True


def wait_for_send(
    settings: Settings,
    campaign_id: int,
    say: Say,
    timeout: float,
    procs: list[subprocess.Popen[bytes]] | None = None,
    also: Callable[[], str] | None = None,
) -> dict[str, int]:
    """Until the campaign is `sent`, printing ledger progress (and `also()`); the counters."""
    from murmur.db.engine import make_engine
    from murmur.domain.sending import campaign_row, counters

    engine = make_engine(settings.require("postgres_url"), pool_size=1, max_overflow=1)
    state: dict[str, Any] = {"last": 0.0, "counts": {}, "status": "scheduled"}

    def done() -> bool:
        with engine.connect() as conn:
            state["status"] = campaign_row(conn, campaign_id)["status"]
            state["counts"] = counts = counters(conn, campaign_id)
        if time.monotonic() - state["last"] >= 5 or state["status"] in ("sent", "failed"):
            state["last"] = time.monotonic()
            say(
                f"      {state['status']:<9} {counts['sent']:,} / {counts['total']:,} sent, "
                f"{counts['failed']:,} failed, {counts['skipped']:,} skipped"
                + (also() if also else "")
            )
        if procs and all(p.poll() is not None for p in procs) and state["status"] != "sent":
            codes = [p.returncode for p in procs]
            raise RuntimeError(f"the sender processes exited {codes} before the campaign was sent")
        if state["status"] in ("failed", "cancelled"):
            raise RuntimeError(f"campaign {campaign_id} ended {state['status']}")
        return bool(state["status"] == "sent")

    try:
        wait_until(done, timeout, f"campaign {campaign_id} sent", interval=1.0)
        first = first_mail_delay(engine, campaign_id)
        if first is not None:
            say(f"      the first mail went out {first:.1f}s after the campaign was scheduled")
    finally:
        engine.dispose()
        for proc in procs or ():
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.terminate()
    return dict(state["counts"])


def first_mail_delay(engine: sa.Engine, campaign_id: int) -> float | None:
    """Seconds from the campaign's `scheduled_at` to its first `sent_at` (None before a send)."""
    import sqlalchemy as sa

    from murmur.db.tables import campaigns, emails

    query = (
        sa.select(sa.func.min(emails.c.sent_at) - campaigns.c.scheduled_at)
        .select_from(emails.join(campaigns, emails.c.campaign_id == campaigns.c.campaign_id))
        .where(emails.c.campaign_id == campaign_id)
        .group_by(campaigns.c.scheduled_at)
    )
    with engine.connect() as conn:
        delay = conn.execute(query).scalar()
    return None if delay is None else float(delay.total_seconds())


def read_ledger(path: Path) -> dict[str, Any] | None:
    """The simulator's ledger (`<state>/simulator/ledger.json`), or None before it wrote one."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def simulator_progress(ledger: Path, campaign_id: int) -> str:
    """What the simulator did for the campaign so far, as a suffix of the send's progress."""
    entry = (read_ledger(ledger) or {}).get("campaigns", {}).get(str(campaign_id), {})
    posted = sum(int(v) for v in entry.get("events", {}).values())
    return f"; simulator: {int(entry.get('messages', 0)):,} seen, {posted:,} events posted"


def wait_for_simulator(
    ledger: Path, campaign_id: int, sent: int, say: Say, timeout: float
) -> dict[str, Any]:
    """Until the simulator has seen all `sent` messages and posted every step it planned.

    Returns the campaign's entry of the ledger (`messages`, `events`, `outcomes`).
    """
    state: dict[str, Any] = {"last": 0.0, "entry": {}}

    def done() -> bool:
        data = read_ledger(ledger) or {}
        entry = data.get("campaigns", {}).get(str(campaign_id), {})
        state["entry"] = entry
        seen, pending = int(entry.get("messages", 0)), int(data.get("pending", 0))
        finished = seen >= sent and pending == 0
        if time.monotonic() - state["last"] >= 5 or finished:
            state["last"] = time.monotonic()
            posted = sum(int(v) for v in entry.get("events", {}).values())
            say(
                f"      simulator: {seen:,} / {sent:,} messages seen, {posted:,} events posted, "
                f"{pending:,} still scheduled"
            )
        return finished

    wait_until(done, timeout, f"the simulator finishing campaign {campaign_id}", interval=1.0)
    return dict(state["entry"])


def wait_for_events(
    settings: Settings, campaign_id: int, expected: int, say: Say, timeout: float
) -> int:
    """Until ClickHouse `events` holds `expected` non-send events of the campaign (via Kafka)."""
    from murmur.clickhouse import get_client

    client = get_client(settings.resolved())
    state: dict[str, Any] = {"last": 0.0, "count": 0}
    query = "select count() from events where campaign_id = {c:Int64} and type != 'send'"

    def done() -> bool:
        count = int(client.query(query, parameters={"c": campaign_id}).result_rows[0][0])
        state["count"] = count
        if time.monotonic() - state["last"] >= 5 or count >= expected:
            state["last"] = time.monotonic()
            say(f"      clickhouse: {count:,} / {expected:,} events of the campaign landed")
        return count >= expected

    try:
        wait_until(
            done,
            timeout,
            f"{expected} events of campaign {campaign_id} in ClickHouse",
            interval=1.0,
        )
    finally:
        client.close()
    return int(state["count"])
