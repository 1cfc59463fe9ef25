"""Diagnostics of bench_ingestion: where did an event that `events` lacks go?

On a shortfall the bench reads the events topic back from offset 0 with a fresh consumer and
compares its event ids with ClickHouse's: an id in the topic but not in `events` was stored by
the broker and skipped or dropped on the consumer's side (its partition and offset are printed,
with the consumer's log lines about offsets and rebalances); fewer distinct ids in the topic
than events sent means the broker never stored an acknowledged one. An id the topic holds at
more than one offset (a producer retry, a webhook posted again) is listed with every offset.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from pathlib import Path

from confluent_kafka import Consumer, TopicPartition

from murmur.clickhouse import get_client
from murmur.kafka import EVENTS_TOPIC, consumer_config
from murmur.settings import Settings

# consumer log lines worth showing next to a missing event (see strategies/offsets.py)
_OFFSET_LINES = re.compile(
    r"missing|went back|arrived .* late|commit failed|cannot seek|offset reset|revok|assign",
    re.IGNORECASE,
)


Where = tuple[int, int]  # (partition, offset)


def read_topic(
    bootstrap: str, topic: str = EVENTS_TOPIC, idle_s: float = 3.0
) -> dict[str, list[Where]]:
    """event_id → every (partition, offset) holding it on `topic`, read from offset 0."""
    consumer = Consumer(
        consumer_config(bootstrap, f"bench-diag-{uuid.uuid4().hex[:8]}",
                        **{"isolation.level": "read_uncommitted"})
    )  # fmt: skip
    try:
        meta = consumer.list_topics(topic, timeout=10).topics[topic]
        consumer.assign([TopicPartition(topic, p, 0) for p in meta.partitions])
        found: dict[str, list[Where]] = {}
        quiet = time.monotonic()
        # until nothing came for `idle_s`: the broker's high watermark can lag its log end
        while time.monotonic() - quiet < idle_s:
            messages = consumer.consume(num_messages=10_000, timeout=0.5)
            for msg in messages:
                if msg.error() is not None:
                    continue
                try:
                    event_id = str(json.loads(msg.value() or b"{}")["event_id"])
                except (ValueError, KeyError, TypeError):
                    continue
                found.setdefault(event_id, []).append((msg.partition() or 0, msg.offset() or 0))
            if messages:
                quiet = time.monotonic()
        return found
    finally:
        consumer.close()


def committed(bootstrap: str, group: str, topic: str = EVENTS_TOPIC) -> dict[int, int]:
    """The group's committed offset per partition (read without joining the group)."""
    consumer = Consumer(consumer_config(bootstrap, group))
    try:
        meta = consumer.list_topics(topic, timeout=10).topics[topic]
        parts = [TopicPartition(topic, p) for p in sorted(meta.partitions)]
        return {tp.partition: tp.offset for tp in consumer.committed(parts, timeout=10)}
    finally:
        consumer.close()


def partition_holes(in_topic: dict[str, list[Where]]) -> dict[int, tuple[int, int]]:
    """partition → (highest offset, offsets below it holding no event) of `read_topic`'s map."""
    seen: dict[int, set[int]] = {}
    for places in in_topic.values():
        for partition, offset in places:
            seen.setdefault(partition, set()).add(offset)
    return {p: (max(o), max(o) + 1 - len(o)) for p, o in sorted(seen.items())}


def duplicated(in_topic: dict[str, list[Where]]) -> list[tuple[str, list[Where]]]:
    """The ids on more than one offset, each with all its offsets in order, by first offset."""
    dups = [(eid, sorted(places)) for eid, places in in_topic.items() if len(places) > 1]
    return sorted(dups, key=lambda item: item[1][0])


def report_shortfall(
    bootstrap: str, settings: Settings, expected: int, consume_log: Path | None
) -> None:
    """Print where the events `events` lacks are (in the topic or not), and the consumer's
    offset-related log lines."""
    in_topic = read_topic(bootstrap)
    for partition, (last, holes) in partition_holes(in_topic).items():
        print(f"  topic partition {partition}: offsets 0-{last}, {holes} missing; group "
              f"committed {committed(bootstrap, settings.consumer_group).get(partition)}",
              flush=True)  # fmt: skip
    client = get_client(settings)
    try:
        stored = {str(r[0]) for r in client.query("select event_id from events").result_rows}
    finally:
        client.close()
    skipped = sorted((places, eid) for eid, places in in_topic.items() if eid not in stored)
    print(f"diagnosis: {len(in_topic)} distinct events on the topic, {len(stored)} in `events`, "
          f"{expected} expected", flush=True)  # fmt: skip
    if len(in_topic) < expected:
        print(f"  {expected - len(in_topic)} acknowledged event(s) are not on the topic at all "
              "(lost by the broker, or never acknowledged)", flush=True)  # fmt: skip
    for places, eid in skipped[:20]:
        print(f"  on the topic but not in events: {eid} at {_places(places)}", flush=True)
    dups = duplicated(in_topic)
    if dups:
        print(f"  {len(dups)} event id(s) on more than one offset (each counts once in events):",
              flush=True)  # fmt: skip
    for eid, places in dups[:20]:
        print(f"    {eid} at {_places(places)}", flush=True)
    if consume_log is not None and consume_log.exists():
        lines = [ln for ln in consume_log.read_text().splitlines() if _OFFSET_LINES.search(ln)]
        for line in lines[-40:]:
            print(f"  consumer: {line}", flush=True)


def _places(places: list[Where]) -> str:
    return ", ".join(f"partition {p} offset {o}" for p, o in places)


def offset_counters(consume_log: Path, processes: int) -> list[str]:
    """The last counters line of each consumer process (late batches, skipped offsets, ...)."""
    lines = [ln for ln in consume_log.read_text().splitlines() if " consumed=" in ln]
    return [ln.split(": ", 1)[-1] for ln in lines[-processes:]]
