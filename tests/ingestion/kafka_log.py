"""Read exactly what a test action wrote to the event topics, between two sentinel messages.

Tansu reports a high watermark per record batch, not per record, so offsets are taken from
sentinels instead: one sentinel per partition before the action and one after it (the receiver
answers only once Kafka acknowledged, so its messages lie between the two). The sentinels live on
the receiver tests' own broker, never on one that other tests read.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from confluent_kafka import Consumer, Producer, TopicPartition

from murmur.events import EmailEvent
from murmur.kafka import DLQ_TOPIC, EVENTS_TOPIC, consumer_config, producer_config

Marks = dict[tuple[str, int], int]
SENTINEL_HEADER = "murmur-test-sentinel"


@dataclass
class Written:
    events: list[EmailEvent]
    dead: list[bytes]
    keys: list[bytes | None]

    @property
    def nothing(self) -> bool:
        return not self.events and not self.dead


class TopicLog:
    def __init__(self, bootstrap: str) -> None:
        self.consumer = Consumer(consumer_config(bootstrap, f"test-{uuid.uuid4().hex}"))
        self.producer = Producer(producer_config(bootstrap))

    def _partitions(self) -> list[tuple[str, int]]:
        meta = self.consumer.list_topics(timeout=10)
        return [
            (topic, p) for topic in (EVENTS_TOPIC, DLQ_TOPIC) for p in meta.topics[topic].partitions
        ]

    def marks(self) -> Marks:
        """Write one sentinel per partition; their offsets mark "now"."""
        marks: Marks = {}

        def delivered(err: object, msg: object) -> None:
            assert err is None, err
            marks[(msg.topic(), msg.partition())] = msg.offset()  # type: ignore[attr-defined]

        for topic, partition in self._partitions():
            self.producer.produce(
                topic,
                b"sentinel",
                partition=partition,
                headers={SENTINEL_HEADER: b"1"},
                on_delivery=delivered,
            )
        assert self.producer.flush(10) == 0, "sentinel not delivered"
        return marks

    def since(self, marks: Marks) -> Written:
        """Everything written after `marks` (up to a fresh set of sentinels)."""
        ends = self.marks()
        self.consumer.assign([TopicPartition(t, p, off + 1) for (t, p), off in marks.items()])
        open_parts = {tp for tp in ends if ends[tp] > marks[tp] + 1}
        closed = {tp for tp in ends if tp not in open_parts}
        written = Written([], [], [])
        for tp in closed:
            self.consumer.incremental_unassign([TopicPartition(*tp)])
        while open_parts:
            msg = self.consumer.poll(10)
            assert msg is not None, f"timed out reading back what was written: {open_parts}"
            assert msg.error() is None, msg.error()
            tp = (msg.topic(), msg.partition())
            if msg.offset() >= ends[tp]:
                open_parts.discard(tp)
                continue
            if dict(msg.headers() or []).get(SENTINEL_HEADER):
                continue
            if msg.topic() == EVENTS_TOPIC:
                written.events.append(EmailEvent.from_json(msg.value()))
                written.keys.append(msg.key())
            else:
                written.dead.append(msg.value())
        self.consumer.unassign()
        return written

    def close(self) -> None:
        self.consumer.close()
