"""Step 6, always last: commit the offsets of a batch whose every message is durable."""

from __future__ import annotations

import logging

from confluent_kafka import Consumer, KafkaException, TopicPartition

log = logging.getLogger("ingestion.consumer")


def commit(consumer: Consumer, offsets: dict[tuple[str, int], int]) -> bool:
    """Commit synchronously. A failed commit only means redelivery, which the sinks dedupe."""
    if not offsets:
        return True
    partitions = [TopicPartition(t, p, o) for (t, p), o in sorted(offsets.items())]
    try:
        consumer.commit(offsets=partitions, asynchronous=False)
    except KafkaException as exc:
        log.warning("offset commit failed (messages will be redelivered and deduped): %s", exc)
        return False
    return True
