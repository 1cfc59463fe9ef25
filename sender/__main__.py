"""`python -m sender send CAMPAIGN_ID [--shard K --shards N] [--follow]`: dispatch a campaign.

Snapshots the audience (once), then claims, renders, signs and sends batches from the ledger
until the shard is done. Safe to re-run after any crash; SIGTERM stops after the messages on
the wire and gives the rest back. Exit 0 when the shard finished, 3 when stopped or cancelled,
2 on usage/config errors, 1 on other failures.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
from collections.abc import Sequence
from types import FrameType

from murmur.db.engine import make_engine
from murmur.domain.audience import AudienceError
from murmur.domain.sending import DispatchError
from murmur.settings import SettingsError, get_settings
from sender.app import link_minter, renderer_factory
from sender.esp.wiring import build_router
from sender.events import DiscardEventSink, KafkaEventSink
from sender.manager import Config, Manager, Pipe
from sender.models import EventSink
from sender.store import PgStore

log = logging.getLogger("sender")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m sender", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    send = sub.add_parser("send", help="dispatch one campaign (or one shard of it)")
    send.add_argument("campaign_id", type=int)
    send.add_argument("--shard", type=int, default=0, help="this worker's shard (0-based)")
    send.add_argument("--shards", type=int, default=1, help="how many shards split the ledger")
    send.add_argument("--batch-size", type=int, help="rows per claim (MURMUR_SEND_BATCH_SIZE)")
    send.add_argument("--concurrency", type=int, help="SMTP connections")
    send.add_argument("--follow", action="store_true", help="print progress after every batch")
    send.add_argument("--no-events", action="store_true", help="do not produce send events")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    if not 0 <= args.shard < args.shards:
        print(f"sender: error: --shard must be in 0..{args.shards - 1}", file=sys.stderr)  # noqa: T201
        return 2
    try:
        settings = get_settings()
        engine = make_engine(settings.require("postgres_url"), pool_size=2, max_overflow=2)
        events: EventSink = (
            DiscardEventSink()
            if args.no_events
            else KafkaEventSink(settings.require("kafka_bootstrap_servers"))
        )
        messenger = build_router(engine, settings, events)  # ESPs, limits, failover
        links = link_minter(settings)  # before anything is claimed: no unsigned links
    except (SettingsError, ValueError) as exc:
        print(f"sender: error: {exc}", file=sys.stderr)  # noqa: T201
        return 2
    config = Config(
        batch_size=args.batch_size or settings.send_batch_size,
        concurrency=args.concurrency or settings.send_concurrency,
        lease_seconds=settings.send_lease_seconds,
        shard=args.shard,
        shards=args.shards,
    )
    store = PgStore(engine)

    def progress(pipe: Pipe) -> None:
        if args.follow:
            line = {"sent": pipe.sent, "failed": pipe.failed, "released": pipe.released}
            print(json.dumps(line), flush=True)  # noqa: T201

    manager = Manager(
        store,
        messenger,
        renderer_factory(engine, store, settings, links),
        events,
        config,
        progress,
    )

    def on_term(signum: int, frame: FrameType | None) -> None:
        log.info("signal %s: finishing the messages on the wire, releasing the rest", signum)
        manager.stop()

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    try:
        pipe = manager.run(args.campaign_id)
    except (DispatchError, AudienceError) as exc:
        print(f"sender: error: {exc}", file=sys.stderr)  # noqa: T201
        return 1
    finally:
        messenger.close()
        engine.dispose()
    summary = {
        "campaign_id": args.campaign_id,
        "shard": args.shard,
        "outcome": pipe.outcome,
        "sent": pipe.sent,
        "failed": pipe.failed,
        "skipped": pipe.skipped,
        "released": pipe.released,
        "reclaimed": pipe.reclaimed,
    }
    print(json.dumps(summary), flush=True)  # noqa: T201
    return 0 if pipe.outcome in ("sent", "done") else 3


if __name__ == "__main__":
    sys.exit(main())
