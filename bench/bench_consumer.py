"""Consumer insert rate vs inserting the same events directly with clickhouse-connect.

Per repetition (median of 3): N events (email record ids from a real ledger, recipients and raw
payloads) are produced to a fresh topic; then
1. baseline: the same `EmailEvent` objects (already parsed) turned into rows and inserted with
   clickhouse-connect, in the consumer's batch size, into fresh `events` + `event_recipients`
   tables (what the consumer stores);
2. consumer: the events consumer (decode → validate → batch → enrich from Postgres → duplicate
   check → insert → commit) in this process, timed from its first message to its last commit
   (the group join is not counted).
Target: consumer rate / baseline rate >= 0.5. Also prints what counting once costs: `count()`
on `events` (what the consumer's check-before-insert allows) vs `count() ... final`.

Uses MURMUR_{POSTGRES,CLICKHOUSE}_URL / MURMUR_KAFKA_BOOTSTRAP_SERVERS when set, else starts a
throwaway local stack. Run: `.venv/bin/python bench/bench_consumer.py [--events N] [--reps 3]`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from confluent_kafka import Producer

from ingestion.consumer.config import ConsumerConfig
from ingestion.consumer.processor import StreamProcessor
from ingestion.consumer.schema import EVENTS_COLUMNS, RECIPIENTS_COLUMNS, ddl
from ingestion.consumer.strategies.batch import Batch
from ingestion.consumer.strategies.enrich import Enricher
from ingestion.consumer.strategies.insert import ClickHouseSink, raw_json, recipient_sha256
from murmur.clickhouse import get_client
from murmur.db.engine import make_engine
from murmur.db.migrate import upgrade
from murmur.db.tables import campaigns, contacts, emails
from murmur.domain.accounts import create_account
from murmur.events import EmailEvent, make_event_id
from murmur.kafka import ensure_topics, producer_config
from murmur.settings import Settings, get_settings

TARGET = 0.5
LEDGER_ROWS = 2000
NIL_UUID = "00000000-0000-0000-0000-000000000000"


@contextmanager
def services() -> Iterator[dict[str, str]]:
    names = {
        "postgres": "MURMUR_POSTGRES_URL",
        "clickhouse": "MURMUR_CLICKHOUSE_URL",
        "kafka": "MURMUR_KAFKA_BOOTSTRAP_SERVERS",
    }
    fields = {
        "postgres": "postgres_url",
        "clickhouse": "clickhouse_url",
        "kafka": "kafka_bootstrap_servers",
    }
    urls = {var: os.environ[var] for var in names.values() if os.environ.get(var)}
    missing = [name for name, var in names.items() if var not in urls]
    if not missing:
        yield urls
        return
    from murmur.stack.manager import Stack

    with tempfile.TemporaryDirectory(prefix="bench-consumer-") as state:
        stack = Stack(Path(state), missing)
        try:
            for status in stack.up():
                urls[names[status.name]] = status.urls[fields[status.name]]
            yield urls
        finally:
            stack.down()


def make_ledger(engine: sa.Engine) -> list[int]:
    with engine.begin() as conn:
        account_id = create_account(conn, f"bench-{uuid.uuid4().hex[:6]}")
        campaign_id = conn.execute(
            campaigns.insert()
            .values(account_id=account_id, name="b", subject="s")
            .returning(campaigns.c.campaign_id)
        ).scalar_one()
        contact_ids = (
            conn.execute(
                contacts.insert().returning(contacts.c.contact_id),
                [
                    {"account_id": account_id, "email": f"u{i}@example.com"}
                    for i in range(LEDGER_ROWS)
                ],
            )
            .scalars()
            .all()
        )
        records = (
            conn.execute(
                emails.insert().returning(emails.c.email_record_id),
                [
                    {
                        "account_id": account_id,
                        "campaign_id": campaign_id,
                        "contact_id": c,
                        "status": "sent",
                        "esp": "sendgrid",
                        "esp_message_id": f"sg-{c}",
                    }
                    for c in contact_ids
                ],
            )
            .scalars()
            .all()
        )
    return list(records)


def make_events(count: int, records: list[int]) -> list[EmailEvent]:
    now = datetime.now(UTC) - timedelta(hours=1)
    tag = uuid.uuid4().hex[:8]
    types = ("delivery", "open", "click")
    out = []
    for i in range(count):
        kind = types[i % 3]
        out.append(
            EmailEvent(
                event_id=make_event_id("sendgrid", kind, f"{tag}-{i}"),
                type=kind,  # type: ignore[arg-type]
                timestamp=now + timedelta(milliseconds=i),
                provider="sendgrid",
                provider_event_id=f"{tag}-{i}",
                email_record_id=records[i % len(records)],
                recipient=f"u{i % LEDGER_ROWS}@example.com",
                recipient_domain="example.com",
                url="https://example.com/offer" if kind == "click" else None,
                ip_address="203.0.113.7",
                user_agent="Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7)",
                raw={"event": kind, "sg_event_id": f"{tag}-{i}", "email": f"u{i}@example.com"},
            )
        )
    return out


def produce(bootstrap: str, topic: str, events: list[EmailEvent]) -> None:
    producer = Producer(producer_config(bootstrap, **{"queue.buffering.max.messages": 1_000_000}))
    for i, event in enumerate(events):
        producer.produce(topic, event.to_json(), key=event.kafka_key())
        if i % 10_000 == 0:
            producer.poll(0)
    if producer.flush(60):
        raise SystemExit("broker did not acknowledge the benchmark events")


def _event_row(e: EmailEvent, now: datetime) -> list[Any]:
    """The baseline's `events` row of one already parsed event."""
    return [
        e.event_id,
        e.schema_version,
        e.type,
        e.timestamp,
        e.provider,
        e.provider_event_id,
        e.provider_message_id,
        e.email_record_id,
        str(e.account_id) if e.account_id else NIL_UUID,
        e.campaign_id,
        e.contact_id,
        e.esp,
        e.recipient_domain,
        e.bounce_type,
        e.diagnostic,
        e.url,
        e.ip_address,
        e.user_agent,
        e.machine_open,
        now,
    ]


def _recipient_row(e: EmailEvent, now: datetime) -> list[Any]:
    """The baseline's `event_recipients` row of one already parsed event."""
    return [
        e.event_id,
        str(e.account_id) if e.account_id else NIL_UUID,
        e.email_record_id,
        e.timestamp,
        e.recipient,
        recipient_sha256(e.recipient) if e.recipient else None,
        raw_json(e.raw),
        now,
    ]


def direct(settings: Settings, events: list[EmailEvent], batch: int) -> float:
    """Seconds to turn the events into rows and insert them with clickhouse-connect alone."""
    database = settings.clickhouse_database
    client = get_client(settings, database=False, compress=False)
    client.command(f"create database if not exists `{database}`")
    for statement in ddl(database):
        client.command(statement)
    started = time.perf_counter()
    for i in range(0, len(events), batch):
        now = datetime.now(UTC)
        rows = [_event_row(e, now) for e in events[i : i + batch]]
        recipients = [_recipient_row(e, now) for e in events[i : i + batch]]
        for table, columns, data in (
            ("event_recipients", RECIPIENTS_COLUMNS, recipients),
            ("events", EVENTS_COLUMNS, rows),
        ):
            client.insert(
                table,
                data,
                database=database,
                column_names=[n for n, _ in columns],
                column_type_names=[k for _, k in columns],
            )
    elapsed = time.perf_counter() - started
    client.close()
    return elapsed


def consumer(settings: Settings, engine: sa.Engine, topic: str, total: int, batch: int) -> float:
    """Seconds from the consumer's first message to the commit of its last batch."""
    stop = threading.Event()
    first: list[float] = []
    config = ConsumerConfig.from_settings(
        settings, f"bench-{uuid.uuid4().hex[:8]}", topic=topic, batch_size=batch,
        stats_interval_s=3600.0,
    )  # fmt: skip
    sink = ClickHouseSink(settings)
    processor: StreamProcessor

    def on_batch(done: Batch) -> None:
        if not first:
            first.append(done.started)
        if processor.stats.written + processor.stats.duplicates >= total:
            stop.set()

    processor = StreamProcessor(config, "events", sink, Enricher(engine), stop, on_batch=on_batch)
    thread = threading.Thread(target=processor.run)
    thread.start()
    if not stop.wait(600):
        stop.set()
        thread.join()
        raise SystemExit(f"consumer stored {processor.stats.written} of {total} within 600 s")
    finished = time.monotonic()
    thread.join()
    if processor.stats.written != total:
        raise SystemExit(f"consumer stored {processor.stats.written} events, expected {total}")
    stats = processor.stats
    phases = " ".join(
        f"{name} {cpu:.2f}/{stats.wall_s[name]:.2f}" for name, cpu in stats.cpu_s.items() if cpu
    )
    print(f"    consumer phases, thread cpu/wall s: {phases}", flush=True)
    return finished - first[0]


def count_cost(settings: Settings) -> tuple[float, float]:
    client = get_client(settings)
    timings = []
    for sql in ("select count() from events", "select count() from events final"):
        started = time.perf_counter()
        for _ in range(5):
            client.command(sql)
        timings.append((time.perf_counter() - started) / 5)
    client.close()
    return timings[0], timings[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=5000)
    args = parser.parse_args()
    with services() as urls:
        upgrade(urls["MURMUR_POSTGRES_URL"])
        engine = make_engine(urls["MURMUR_POSTGRES_URL"], pool_size=2, max_overflow=2)
        records = make_ledger(engine)
        ratios = []
        for rep in range(args.reps):
            events = make_events(args.events, records)
            base = get_settings(
                postgres_url=urls["MURMUR_POSTGRES_URL"],
                clickhouse_url=urls["MURMUR_CLICKHOUSE_URL"],
                kafka_bootstrap_servers=urls["MURMUR_KAFKA_BOOTSTRAP_SERVERS"],
                consumer_session_timeout_ms=2000,
                consumer_heartbeat_interval_ms=300,
            )
            run = uuid.uuid4().hex[:8]
            topic = f"bench-{run}"
            ensure_topics(base.require("kafka_bootstrap_servers"), [topic])
            produce(base.require("kafka_bootstrap_servers"), topic, events)
            direct_s = direct(
                base.model_copy(update={"clickhouse_database": f"bd_{run}"}),
                events,
                args.batch_size,
            )
            consumer_settings = base.model_copy(update={"clickhouse_database": f"bc_{run}"})
            consumer_s = consumer(consumer_settings, engine, topic, len(events), args.batch_size)
            direct_rate, consumer_rate = len(events) / direct_s, len(events) / consumer_s
            ratio = consumer_rate / direct_rate
            ratios.append(ratio)
            plain, final = count_cost(consumer_settings)
            print(
                f"rep {rep + 1}: direct {direct_rate:,.0f} ev/s, "
                f"consumer {consumer_rate:,.0f} ev/s, "
                f"ratio {ratio:.2f}; count() {plain * 1000:.1f} ms vs count() final "
                f"{final * 1000:.1f} ms",
                flush=True,
            )
        engine.dispose()
    median = statistics.median(ratios)
    verdict = "OK" if median >= TARGET else "MISS"
    print(f"consumer / direct insert rate: median {median:.2f} (target >= {TARGET}) {verdict}")
    return 0 if median >= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
