"""`murmur ingestion status`: consumer-group lag from Kafka and event counts from ClickHouse.

Reads only the broker and ClickHouse (never imports the `ingestion` app): lag is the high
watermark minus the group's committed offset per partition, DLQ size is the messages on the
dead-letter topic, and `events` counts stored, unmatched and per-type events.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

from murmur.kafka import DLQ_TOPIC, EVENTS_TOPIC
from murmur.settings import Settings


@dataclass
class GroupLag:
    group: str
    topic: str
    lag: int | None = None
    committed: int | None = None
    partitions: int = 0
    error: str | None = None


@dataclass
class IngestionStatus:
    groups: list[GroupLag] = field(default_factory=list)
    dlq_messages: int | None = None
    events: int | None = None
    unmatched: int | None = None
    by_type: dict[str, int] = field(default_factory=dict)
    last_ingested_at: str | None = None
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _topic_partitions(consumer: Any, topic: str, timeout: float) -> list[Any]:
    from confluent_kafka import TopicPartition

    meta = consumer.list_topics(topic, timeout=timeout).topics.get(topic)
    if meta is None or meta.error is not None:
        raise RuntimeError(f"topic {topic!r} does not exist")
    return [TopicPartition(topic, p) for p in sorted(meta.partitions)]


def group_lag(bootstrap: str, group: str, topic: str, timeout: float = 5.0) -> GroupLag:
    """Committed offsets of `group` against the end of `topic` (no group join)."""
    from confluent_kafka import Consumer, KafkaException

    result = GroupLag(group, topic)
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False,
         "log_level": 3}
    )  # fmt: skip
    try:
        partitions = _topic_partitions(consumer, topic, timeout)
        committed = consumer.committed(partitions, timeout=timeout)
        lag = done = 0
        for tp in committed:
            low, high = consumer.get_watermark_offsets(tp, timeout=timeout)
            position = tp.offset if tp.offset >= 0 else low
            lag += max(high - position, 0)
            done += max(position - low, 0) if tp.offset >= 0 else 0
        result.lag, result.committed = lag, done
        result.partitions = len(partitions)
    except (KafkaException, RuntimeError) as exc:
        result.error = str(exc)
    finally:
        consumer.close()
    return result


def topic_size(bootstrap: str, topic: str, timeout: float = 5.0) -> int:
    from confluent_kafka import Consumer

    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": f"murmur-status-{uuid.uuid4().hex[:8]}",
         "log_level": 3}
    )  # fmt: skip
    try:
        total = 0
        for tp in _topic_partitions(consumer, topic, timeout):
            low, high = consumer.get_watermark_offsets(tp, timeout=timeout)
            total += high - low
        return total
    finally:
        consumer.close()


def clickhouse_counts(settings: Settings, status: IngestionStatus) -> None:
    from murmur.clickhouse import get_client, target

    database = target(settings).database
    client = get_client(settings, database=False)
    try:
        exists = client.command(f"exists table `{database}`.`events`")
        if str(exists).strip() != "1":
            status.errors.append(f"ClickHouse table {database}.events does not exist yet")
            status.events, status.unmatched = 0, 0
            return
        row = client.query(
            f"select count(), countIf(empty(account_id)), toString(max(ingested_at)) "
            f"from `{database}`.`events`"
        ).result_rows[0]
        status.events, status.unmatched = int(row[0]), int(row[1])
        status.last_ingested_at = str(row[2]) if status.events else None
        rows = client.query(
            f"select type, count() from `{database}`.`events` group by type order by type"
        ).result_rows
        status.by_type = {str(t): int(n) for t, n in rows}
    finally:
        client.close()


def collect(
    settings: Settings, groups: list[str], topic: str = EVENTS_TOPIC, dlq_topic: str = DLQ_TOPIC
) -> IngestionStatus:
    """Everything `murmur ingestion status` shows; unreachable parts are named in `errors`."""
    status = IngestionStatus()
    try:
        bootstrap = settings.require("kafka_bootstrap_servers")
    except Exception as exc:
        status.errors.append(str(exc))
        bootstrap = ""
    if bootstrap:
        for group in groups:
            lag = group_lag(bootstrap, group, topic)
            status.groups.append(lag)
            if lag.error:
                status.errors.append(f"Kafka group {group}: {lag.error}")
        try:
            status.dlq_messages = topic_size(bootstrap, dlq_topic)
        except Exception as exc:
            status.errors.append(f"Kafka topic {dlq_topic}: {exc}")
    try:
        clickhouse_counts(settings, status)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        status.errors.append(f"ClickHouse: {first}")
    return status


def render(status: IngestionStatus) -> str:
    lines = [f"{'GROUP':<24} {'TOPIC':<24} {'LAG':>10} {'COMMITTED':>10}"]
    for g in status.groups:
        lag = "?" if g.lag is None else str(g.lag)
        committed = "?" if g.committed is None else str(g.committed)
        lines.append(f"{g.group:<24} {g.topic:<24} {lag:>10} {committed:>10}")
    dlq = "?" if status.dlq_messages is None else status.dlq_messages
    lines.append(f"dead letters: {dlq}")
    events = "?" if status.events is None else status.events
    lines.append(
        f"events: {events} (unmatched {status.unmatched if status.unmatched is not None else '?'})"
    )
    if status.by_type:
        lines.append("  " + ", ".join(f"{t}={n}" for t, n in status.by_type.items()))
    if status.last_ingested_at:
        lines.append(f"last ingested at: {status.last_ingested_at} UTC")
    lines += [f"error: {e}" for e in status.errors]
    return "\n".join(lines)
