"""Holes in a partition's offsets: the tracker's judgement, and the processor on a real broker.

Tansu (the local broker) can serve a later record batch before an earlier one of a concurrent
produce request is readable; a consumer that took the later one and moved on never saw the
earlier: acknowledged events lost (bench_ingestion: "events holds 322049 rows, expected
322050"). The consumer now expects each partition's offsets without holes, seeks back to a
hole and re-reads it (strategies/offsets.py).
"""

from __future__ import annotations

import threading
import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from confluent_kafka import Consumer, Producer, TopicPartition

from ingestion.consumer.config import ConsumerConfig
from ingestion.consumer.processor import StreamProcessor
from ingestion.consumer.strategies.enrich import Enricher
from ingestion.consumer.strategies.insert import ClickHouseSink
from ingestion.consumer.strategies.offsets import DROP, OffsetTracker
from murmur.kafka import consumer_config, ensure_topics, producer_config
from murmur.net import wait_until
from murmur.settings import get_settings
from tests.ingestion.consumer.helpers import ch_client, event

TP = ("t", 0)


@pytest.mark.unit
def test_contiguous_offsets_need_no_judgement() -> None:
    tracker = OffsetTracker()
    tracker.assigned(TP, 5)
    assert tracker.expected[TP] == 5 and not tracker.holes_open


@pytest.mark.unit
def test_a_hole_is_re_read_until_it_fills() -> None:
    tracker = OffsetTracker(wait_s=5.0)
    tracker.assigned(TP, 10)
    # offset 14 came where 10 was due: seek back to 10; a message past the hole that comes
    # after the seek is the re-read's answer (librdkafka drops what it fetched before a seek):
    # seek again, at most every MIN_RESEEK_S
    assert tracker.unexpected(TP, 14, now=100.0) == 10
    assert tracker.unexpected(TP, 15, now=100.01) == DROP
    assert tracker.unexpected(TP, 14, now=100.1) == 10
    assert tracker.unexpected(TP, 14, now=100.12) == DROP
    assert tracker.unexpected(TP, 14, now=101.0) == 10
    assert tracker.holes_open
    tracker.arrived(TP, now=101.5)  # offset 10 came on re-reading
    assert not tracker.holes_open
    assert (tracker.counters.late_batches, tracker.counters.skipped_offsets) == (1, 0)


@pytest.mark.unit
def test_without_messages_the_loop_seeks_again_less_and_less_often() -> None:
    # Regression (review): the loop sought every 0.5 s whatever came back; on a starved broker
    # whose fetch takes longer, every seek voided the re-read in flight until the wait ended
    # and the hole was skipped. Now the interval doubles (0.5, 1, 2, 4 s at most).
    seeks: list[int] = []

    class Broker:  # the consumer's seek, recorded (no broker needed for the judgement)
        def seek(self, partition: TopicPartition) -> None:
            seeks.append(partition.offset)

    tracker = OffsetTracker(wait_s=30.0)
    tracker.assigned(TP, 10)
    assert tracker.unexpected(TP, 14, now=100.0) == 10
    consumer: Any = Broker()
    times = [100.0 + t / 10 for t in range(1, 120)]  # the loop, every 0.1 s for 12 s
    sought_at = []
    for now in times:
        before = len(seeks)
        tracker.retry_holes(consumer, now=now)
        if len(seeks) > before:
            sought_at.append(round(now - 100.0, 1))
    assert seeks == [10] * len(sought_at)
    assert sought_at == [0.5, 1.5, 3.5, 7.5, 11.5]


@pytest.mark.unit
def test_a_hole_below_the_log_start_is_taken_at_once_and_counted() -> None:
    # Regression (review): on a real Kafka, retention deletes old segments; a group behind
    # them jumps to the log start, a hole no re-read fills: it stalled 30 s, then was
    # reported as a broker skip
    class Broker:
        def get_watermark_offsets(self, _tp: TopicPartition, **_kw: Any) -> tuple[int, int]:
            return 40, 100  # the log starts at 40

        def seek(self, _partition: TopicPartition) -> None:
            raise AssertionError("nothing to re-read below the log start")

    consumer: Any = Broker()
    tracker = OffsetTracker()
    tracker.assigned(TP, 10)
    assert tracker.reread(consumer, TP, 40) is False  # take offset 40
    assert not tracker.holes_open and tracker.counters.skipped_offsets == 30


@pytest.mark.unit
def test_a_hole_that_starts_below_the_log_start_is_re_read_from_the_log_start() -> None:
    seeks: list[int] = []

    class Broker:
        def get_watermark_offsets(self, _tp: TopicPartition, **_kw: Any) -> tuple[int, int]:
            return 40, 100

        def seek(self, partition: TopicPartition) -> None:
            seeks.append(partition.offset)

    consumer: Any = Broker()
    tracker = OffsetTracker()
    tracker.assigned(TP, 10)
    # offset 45 came: 10-39 are gone (retention), 40-44 may still come: re-read from 40
    assert tracker.reread(consumer, TP, 45) is True
    assert seeks == [40] and tracker.holes_open and tracker.counters.skipped_offsets == 30


@pytest.mark.unit
def test_a_hole_that_never_fills_is_accepted_after_the_wait_and_counted() -> None:
    tracker = OffsetTracker(wait_s=5.0)
    tracker.assigned(TP, 10)
    assert tracker.unexpected(TP, 12, now=100.0) == 10
    assert tracker.unexpected(TP, 12, now=105.5) is None  # take offset 12
    assert tracker.expected[TP] == 13
    assert (tracker.counters.late_batches, tracker.counters.skipped_offsets) == (0, 2)


@pytest.mark.unit
def test_an_offset_going_back_is_taken_and_counted() -> None:
    tracker = OffsetTracker()
    tracker.assigned(TP, 50)
    assert tracker.unexpected(TP, 0) is None  # a reset to the beginning: duplicates, deduped
    assert tracker.expected[TP] == 1 and tracker.counters.rewinds == 1


@pytest.mark.unit
def test_reassignment_forgets_a_hole_and_an_unknown_commit_expects_nothing() -> None:
    tracker = OffsetTracker()
    tracker.assigned(TP, 10)
    tracker.unexpected(TP, 20, now=1.0)
    tracker.revoked(TP)
    assert TP not in tracker.expected and not tracker.holes_open
    tracker.assigned(TP, -1001)  # no committed offset: the first message sets it
    assert TP not in tracker.expected


@pytest.mark.integration
def test_a_consumer_that_starts_past_its_expected_offset_is_sought_back(
    kafka_bootstrap: str,
) -> None:
    """The broker's skip, reproduced on a real consumer: its fetch starts past offset 0."""
    topic = f"holes-{uuid.uuid4().hex[:8]}"
    ensure_topics(kafka_bootstrap, [topic], partitions=1)
    producer = Producer(producer_config(kafka_bootstrap))
    for i in range(6):
        producer.produce(topic, f"m{i}".encode())
    assert producer.flush(10) == 0
    consumer = Consumer(consumer_config(kafka_bootstrap, f"g-{topic}"))
    consumer.assign([TopicPartition(topic, 0, 3)])  # what a fetch that skipped 0-2 does
    tracker = OffsetTracker()
    tracker.assigned((topic, 0), 0)  # the committed offset
    taken: list[bytes] = []
    try:
        for _ in range(100):
            for msg in consumer.consume(num_messages=10, timeout=0.2):
                tp, offset = (topic, 0), msg.offset() or 0
                if offset != tracker.expected[tp] and tracker.reread(consumer, tp, offset):
                    continue
                tracker.arrived(tp)
                tracker.expected[tp] = offset + 1
                taken.append(msg.value() or b"")
            if len(taken) >= 6:
                break
    finally:
        consumer.close()
    assert taken == [f"m{i}".encode() for i in range(6)]  # each once, in order
    assert tracker.counters.late_batches == 1


@pytest.mark.integration
@pytest.mark.slow
def test_the_processor_waits_out_a_hole_that_never_fills_and_loses_nothing(
    kafka_bootstrap: str, clickhouse_url: str, postgres_url: str, db_engine: sa.Engine
) -> None:
    """A transaction's commit marker takes an offset no consumer sees: a real, permanent hole
    (our topics have no transactions; this is how a test gets a hole at a known offset)."""
    topic = f"holes-{uuid.uuid4().hex[:8]}"
    ensure_topics(kafka_bootstrap, [topic], partitions=1)
    events = [event(f"hole-{uuid.uuid4()}") for _ in range(3)]
    txn = Producer(producer_config(kafka_bootstrap, **{"transactional.id": f"x-{topic}"}))
    txn.init_transactions(10)
    txn.begin_transaction()
    txn.produce(topic, events[0].to_json())  # offset 0; its commit marker takes offset 1
    txn.commit_transaction(10)
    plain = Producer(producer_config(kafka_bootstrap))
    for e in events[1:]:
        plain.produce(topic, e.to_json())  # offsets 2 and 3
    assert plain.flush(10) == 0

    database = f"holes_{uuid.uuid4().hex[:8]}"
    settings = get_settings(
        clickhouse_url=clickhouse_url, clickhouse_database=database, postgres_url=postgres_url
    )
    config = ConsumerConfig(
        kafka_bootstrap, f"g-{topic}", topic=topic, session_timeout_ms=2000,
        heartbeat_interval_ms=300, stats_interval_s=0.5,
    )  # fmt: skip
    stop = threading.Event()
    processor = StreamProcessor(
        config, "events", ClickHouseSink(settings), Enricher(db_engine), stop
    )
    processor.offsets.wait_s = 1.0
    runner = threading.Thread(target=processor.run)
    runner.start()
    try:
        wait_until(lambda: processor.stats.batches >= 2 and processor.stats.written >= 3, 60,
                   "the events past the hole")  # fmt: skip
    finally:
        stop.set()
        runner.join(30)
    rows = ch_client(clickhouse_url).query(f"select event_id from `{database}`.events")
    assert sorted(r[0] for r in rows.result_rows) == sorted(e.event_id for e in events)
    # every message taken once although the ones past the hole were fetched many times
    assert processor.stats.consumed == 3
    assert processor.stats.skipped_offsets == 1 and processor.stats.late_batches == 0


@pytest.mark.unit
def test_the_hole_check_is_a_setting_and_zero_turns_it_off() -> None:
    settings = get_settings(kafka_bootstrap_servers="127.0.0.1:1", consumer_hole_wait_s=0)
    config = ConsumerConfig.from_settings(settings, "g")
    assert config.hole_wait_s == 0
    defaults = ConsumerConfig.from_settings(get_settings(kafka_bootstrap_servers="h:1"), "g")
    assert defaults.hole_wait_s == 30.0
