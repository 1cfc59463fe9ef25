"""Kafka helpers shared by the apps: topic names, client configs and topic creation."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

EVENTS_TOPIC = "email-events"  # normalized EmailEvent JSON, key = email record id
DLQ_TOPIC = "email-events-dlq"  # the error and the original bytes of what could not be processed
TOPICS: tuple[str, ...] = (EVENTS_TOPIC, DLQ_TOPIC)
# librdkafka log level 4 (warning): its info lines about connection churn are noise here.
_QUIET = 4
# Partitions of a topic `ensure_topics` creates: the most consumers of one group that all get
# work. 4 splits evenly over 1, 2 or 4 consumer processes (`consume --procs`); with 3, one of
# two processes read two partitions and did two thirds of the work.
DEFAULT_PARTITIONS = 4


def producer_config(bootstrap_servers: str, **overrides: Any) -> dict[str, Any]:
    """An idempotent producer that answers only after every in-sync replica has the message."""
    return {
        "bootstrap.servers": bootstrap_servers,
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 5,
        "compression.type": "lz4",
        "message.timeout.ms": 10_000,
        "log_level": _QUIET,
        **overrides,
    }


def consumer_config(bootstrap_servers: str, group_id: str, **overrides: Any) -> dict[str, Any]:
    """A consumer that commits only what the caller commits (after its work is durable)."""
    return {
        "bootstrap.servers": bootstrap_servers,
        "group.id": group_id,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "log_level": _QUIET,
        **overrides,
    }


def ensure_topics(
    bootstrap_servers: str,
    topics: Iterable[str],
    partitions: int = DEFAULT_PARTITIONS,
    timeout: float = 15.0,
) -> None:
    """Create the topics that do not exist yet (idempotent)."""
    admin = AdminClient({"bootstrap.servers": bootstrap_servers, "log_level": 4})
    existing = set(admin.list_topics(timeout=timeout).topics)
    wanted = [
        NewTopic(t, num_partitions=partitions, replication_factor=1)
        for t in topics
        if t not in existing
    ]
    if not wanted:
        return
    for topic, future in admin.create_topics(wanted, operation_timeout=timeout).items():
        try:
            future.result(timeout=timeout)
        except KafkaException as exc:
            if "TOPIC_ALREADY_EXISTS" not in str(exc):
                raise RuntimeError(f"cannot create Kafka topic {topic!r}: {exc}") from exc
