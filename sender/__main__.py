"""`python -m sender send CAMPAIGN_ID [--shard K --shards N] [--procs P] [--follow]`: dispatch.

Snapshots the audience (once), then claims, renders, signs and sends batches from the ledger
until the shard is done. `--procs P` runs P worker processes on the shard (DKIM signing holds
the GIL: one process uses one core); they claim batches with `FOR UPDATE SKIP LOCKED`, so no
row goes to two of them. Safe to re-run after any crash; SIGTERM stops after the messages on
the wire and gives the rest back. Exit 0 when the shard finished, 3 when stopped or cancelled,
2 on usage/config errors, 1 on other failures. The last line printed is a JSON summary.
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing
import os
import resource
import signal
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from multiprocessing.connection import Connection
from types import FrameType
from typing import Any

from murmur.clickhouse import open_optional
from murmur.db.engine import make_engine
from murmur.domain.audience import AudienceError
from murmur.domain.sending import DispatchError
from murmur.settings import Settings, SettingsError, get_settings
from sender.app import link_minter, renderer_factory
from sender.esp.wiring import build_router, default_account
from sender.events import DiscardEventSink, KafkaEventSink
from sender.manager import Config, Manager, Pipe
from sender.models import EventSink
from sender.store import PgStore

log = logging.getLogger("sender")
COUNTS = ("sent", "failed", "skipped", "released", "reclaimed")
_FINISHED = ("sent", "done")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m sender", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    send = sub.add_parser("send", help="dispatch one campaign (or one shard of it)")
    send.add_argument("campaign_id", type=int)
    send.add_argument("--shard", type=int, default=0, help="this worker's shard (0-based)")
    send.add_argument("--shards", type=int, default=1, help="how many shards split the ledger")
    send.add_argument("--procs", type=int, default=1, help="worker processes on this shard")
    send.add_argument("--batch-size", type=int, help="rows per claim (MURMUR_SEND_BATCH_SIZE)")
    send.add_argument("--concurrency", type=int, help="SMTP connections per process")
    send.add_argument("--follow", action="store_true", help="print progress after every batch")
    send.add_argument("--no-events", action="store_true", help="do not produce send events")
    return parser


@dataclass(frozen=True)
class Job:
    """What every worker process of one run shares: the arguments and checked settings."""

    args: argparse.Namespace
    settings: Settings
    config: Config


def _error(message: object) -> None:
    print(f"sender: error: {message}", file=sys.stderr)  # noqa: T201


def _prepare(args: argparse.Namespace) -> Job | None:
    """Settings and the default ESP checked before any claim (None after printing the error)."""
    if not 0 <= args.shard < args.shards:
        _error(f"--shard must be in 0..{args.shards - 1}")
        return None
    if not 1 <= args.procs <= 64:
        _error("--procs must be in 1..64")
        return None
    try:
        settings = get_settings()
        settings.require("postgres_url")
        if not args.no_events:
            settings.require("kafka_bootstrap_servers")
        default_account(settings)  # the platform default ESP is configured
        link_minter(settings)  # before anything is claimed: no unsigned links
    except (SettingsError, ValueError) as exc:
        _error(exc)
        return None
    config = Config(
        batch_size=args.batch_size or settings.send_batch_size,
        concurrency=args.concurrency or settings.send_concurrency,
        lease_seconds=settings.send_lease_seconds,
        shard=args.shard,
        shards=args.shards,
    )
    return Job(args, settings, config)


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _work(job: Job, proc: int) -> dict[str, Any]:
    """Run the shard in this process to the end (or to SIGTERM); its summary."""
    args, settings = job.args, job.settings
    engine = make_engine(settings.require("postgres_url"), pool_size=2, max_overflow=2)
    events: EventSink = (
        DiscardEventSink()
        if args.no_events
        else KafkaEventSink(settings.require("kafka_bootstrap_servers"))
    )
    store = PgStore(engine, partial(open_optional, settings))
    messenger = build_router(engine, settings, events)  # ESPs, limits, failover

    def progress(pipe: Pipe) -> None:
        if args.follow:
            line = {"proc": proc, "sent": pipe.sent, "failed": pipe.failed}
            print(json.dumps({**line, "released": pipe.released}), flush=True)  # noqa: T201

    render = renderer_factory(engine, store, settings, link_minter(settings))
    manager = Manager(store, messenger, render, events, job.config, progress)

    def on_term(signum: int, frame: FrameType | None) -> None:
        log.info("signal %s: finishing the messages on the wire, releasing the rest", signum)
        manager.stop()

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    try:
        pipe = manager.run(args.campaign_id)
    finally:
        messenger.close()
        engine.dispose()
    summary: dict[str, Any] = {"outcome": pipe.outcome}
    summary.update({name: getattr(pipe, name) for name in COUNTS})
    return {**summary, "peak_rss_mb": round(_peak_rss_mb(), 1)}


def _child(job: Job, proc: int, out: Connection) -> None:
    try:
        out.send(_work(job, proc))
    except (DispatchError, AudienceError) as exc:
        out.send({"outcome": "error", "error": str(exc)})
    except BaseException as exc:
        out.send({"outcome": "error", "error": f"{type(exc).__name__}: {exc}"})
        raise
    finally:
        out.close()


def _start(job: Job) -> None:
    """Snapshot the audience once, before the workers fork (each `start` then returns at once)."""
    engine = make_engine(job.settings.require("postgres_url"), pool_size=1, max_overflow=0)
    try:
        PgStore(engine, partial(open_optional, job.settings)).start(job.args.campaign_id)
    finally:
        engine.dispose()  # no connection crosses the fork


def _run_procs(job: Job) -> dict[str, Any]:
    """P forked workers on the shard; SIGTERM/SIGINT are passed on to each of them."""
    _start(job)
    context = multiprocessing.get_context("fork")
    workers = []
    for proc in range(job.args.procs):
        receive, send = context.Pipe(duplex=False)
        worker = context.Process(target=_child, args=(job, proc, send), name=f"sender-{proc}")
        worker.start()
        send.close()
        workers.append((worker, receive))

    def forward(signum: int, frame: FrameType | None) -> None:
        for worker, _ in workers:
            if worker.is_alive() and worker.pid is not None:
                os.kill(worker.pid, signum)  # each worker stops after its messages on the wire

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    results = []
    for worker, receive in workers:
        try:
            results.append(receive.recv())
        except EOFError:  # killed before it could answer
            results.append({"outcome": "error", "error": f"{worker.name} died"})
        worker.join()
    return _merge(job, results)


def _merge(job: Job, results: list[dict[str, Any]]) -> dict[str, Any]:
    outcomes = [r["outcome"] for r in results]
    summary: dict[str, Any] = {name: sum(r.get(name, 0) for r in results) for name in COUNTS}
    errors = [r["error"] for r in results if r["outcome"] == "error"]
    if errors:
        summary.update(outcome="error", errors=errors)
    elif all(o in _FINISHED for o in outcomes):
        summary["outcome"] = "sent" if "sent" in outcomes else "done"
    else:
        summary["outcome"] = next(o for o in outcomes if o not in _FINISHED)
    peaks = [r["peak_rss_mb"] for r in results if "peak_rss_mb" in r]
    summary["peak_rss_mb"] = max([*peaks, round(_peak_rss_mb(), 1)])
    summary["peak_rss_mb_total"] = round(sum(peaks) + _peak_rss_mb(), 1)
    return summary


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    job = _prepare(args)
    if job is None:
        return 2
    started = time.perf_counter()
    try:
        summary = _run_procs(job) if args.procs > 1 else _work(job, 0)
    except (DispatchError, AudienceError) as exc:
        _error(exc)
        return 1
    head = {"campaign_id": args.campaign_id, "shard": args.shard, "procs": args.procs}
    summary = {**head, **summary, "seconds": round(time.perf_counter() - started, 3)}
    print(json.dumps(summary), flush=True)  # noqa: T201
    if summary["outcome"] == "error":
        for message in summary.get("errors", []):
            _error(message)
        return 1
    return 0 if summary["outcome"] in _FINISHED else 3


if __name__ == "__main__":
    sys.exit(main())
