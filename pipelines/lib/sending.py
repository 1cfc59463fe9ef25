"""Running the sender in-process from Dagster: its resource and the per-shard ledger counters.

The wiring mirrors `python -m sender send` (PgStore + EspRouter + CampaignRenderer with the
domain's DKIM key + Kafka send events), built from the settings when a run uses it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import partial

import sqlalchemy as sa

from murmur.clickhouse import open_optional
from murmur.db.tables import emails
from murmur.domain.sending import STATES
from pipelines.lib.resources import _SettingsResource
from sender.app import link_minter, renderer_factory
from sender.esp.router import EspRouter
from sender.esp.wiring import build_router
from sender.events import DiscardEventSink, KafkaEventSink
from sender.manager import Config, Manager, Pipe
from sender.models import EventSink
from sender.store import PgStore

COUNTERS = (*STATES, "possible_duplicates")


class SenderResource(_SettingsResource):
    """The SMTP relay (`MURMUR_SMTP_URL`), send events (Kafka) and dispatch tuning of a shard."""

    smtp_url: str | None = None
    kafka_bootstrap_servers: str | None = None
    emit_events: bool = True
    batch_size: int | None = None
    concurrency: int | None = None

    def _overrides(self) -> dict[str, object]:
        extra: dict[str, object] = {}
        if self.smtp_url:
            extra["smtp_url"] = self.smtp_url
        if self.kafka_bootstrap_servers:
            extra["kafka_bootstrap_servers"] = self.kafka_bootstrap_servers
        return {**super()._overrides(), **extra}

    def manager(
        self,
        engine: sa.Engine,
        shard: int,
        shards: int,
        progress: Callable[[Pipe], None] | None = None,
    ) -> tuple[Manager, EspRouter]:
        """A Manager for one shard and its messenger (the caller closes the messenger)."""
        settings = self.settings()
        events: EventSink = (
            KafkaEventSink(settings.require("kafka_bootstrap_servers"))
            if self.emit_events
            else DiscardEventSink()
        )
        config = Config(
            batch_size=self.batch_size or settings.send_batch_size,
            concurrency=self.concurrency or settings.send_concurrency,
            lease_seconds=settings.send_lease_seconds,
            shard=shard,
            shards=shards,
        )
        store = PgStore(engine, partial(open_optional, settings))
        messenger = build_router(engine, settings, events)  # ESPs, limits, failover
        render = renderer_factory(engine, store, settings, link_minter(settings))
        return Manager(store, messenger, render, events, config, progress), messenger


def run_to_end(manager: Manager, campaign_id: int, poll_seconds: float = 0.5) -> Pipe:
    """`manager.run(campaign_id)` in a worker thread, stopped cleanly if this thread is interrupted.

    Terminating a Dagster run (SIGTERM) raises an interrupt in the step's thread. Raised inside
    `Manager.run`, it would abandon the batch on the wire with its rows still `sending`, to be
    retried as possible duplicates after the lease; here it calls `manager.stop()` instead,
    waits while the messages on the wire finish and the rest is released, then re-raises.
    """
    outcome: dict[str, Pipe | BaseException] = {}
    # An Event, not Thread.join: a join interrupted by KeyboardInterrupt can report the thread
    # finished while it still runs (CPython's tstate lock), and the caller would then read the
    # ledger with a batch still on the wire.
    finished = threading.Event()

    def work() -> None:
        try:
            outcome["pipe"] = manager.run(campaign_id)
        except BaseException as exc:  # handed to the caller's thread below
            outcome["error"] = exc
        finally:
            finished.set()

    worker = threading.Thread(target=work, name=f"send-{campaign_id}", daemon=True)
    worker.start()
    try:
        while not finished.wait(poll_seconds):
            pass
    except BaseException:
        manager.stop()
        finished.wait()
        raise
    error = outcome.get("error")
    if isinstance(error, BaseException):
        raise error
    pipe = outcome["pipe"]
    if not isinstance(pipe, Pipe):  # work() stores either a Pipe or an error
        raise TypeError(f"the send of campaign {campaign_id} returned {pipe!r}")
    return pipe


def shard_counters(
    conn: sa.Connection, campaign_id: int, shard: int, shards: int
) -> dict[str, int]:
    """Ledger counts of one shard (the rows `mod(email_record_id, shards) = shard` claims)."""
    rows = conn.execute(
        sa.select(
            emails.c.status,
            sa.func.count(),
            sa.func.count().filter(emails.c.possible_duplicate),
        )
        .where(
            emails.c.campaign_id == campaign_id,
            sa.func.mod(emails.c.email_record_id, shards) == shard,
        )
        .group_by(emails.c.status)
    ).all()
    result = dict.fromkeys(COUNTERS, 0)
    for status, count, dups in rows:
        result[status] = int(count)
        result["possible_duplicates"] += int(dups)
    return result
