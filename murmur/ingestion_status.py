"""`murmur ingestion status`: consumer-group lag from Kafka and event counts from ClickHouse.

Reads only the broker, ClickHouse and the consumer's status file (never imports the
`ingestion` app): lag is the high watermark minus the group's committed offset per partition,
DLQ size is the messages on the dead-letter topic, and `events` counts stored, unmatched and
per-type events. The status file (`python -m ingestion consume --status-file`, the local
stack's `run/consumer.status.json`) gives what only the consumer knows, per role: its
counters, including the holes in a partition's offsets it re-read (`late_batches`), gave up on
(`skipped_offsets`: never stored) or saw go back (`rewinds`).
"""

from __future__ import annotations

import json
import os
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
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


# the consumer's counters shown per role, in this order (the status file has more: phases)
COUNTERS = (
    "consumed",
    "written",
    "duplicates",
    "unmatched",
    "dead_lettered",
    "retries",
    "late_batches",
    "skipped_offsets",
    "rewinds",
)


@dataclass
class ConsumerCounters:
    """One role's counters from a consumer's status file (as of `updated_at`, Unix seconds)."""

    role: str
    pid: int | None
    running: bool
    updated_at: float | None
    counters: dict[str, int] = field(default_factory=dict)


@dataclass
class IngestionStatus:
    groups: list[GroupLag] = field(default_factory=list)
    consumers: list[ConsumerCounters] = field(default_factory=list)
    status_file: str | None = None  # the consumer status file asked for (it may be absent)
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


def _running(pid: int | None) -> bool:
    if pid is None or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        return True
    return True


def consumer_counters(path: Path) -> list[ConsumerCounters]:
    """The roles' counters in a consumer status file; [] when there is none.

    ValueError naming the file when it is not a status file (a consumer writes it atomically,
    so a torn read cannot happen).
    """
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as exc:
        raise ValueError(f"consumer status file {path}: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError(f"consumer status file {path}: not a JSON object")
    pid = data.get("pid")
    pid = pid if type(pid) is int else None
    alive = _running(pid)
    out = []
    for role, values in sorted(data.items()):
        if role == "pid" or not isinstance(values, dict):
            continue
        counters = {
            name: value
            for name in COUNTERS
            if type(value := values.get(name)) is int  # an older consumer lacks some
        }
        stamp = values.get("updated_at")
        updated = float(stamp) if isinstance(stamp, int | float) else None
        out.append(ConsumerCounters(role, pid, alive, updated, counters))
    return out


def default_status_file(settings: Settings) -> Path:
    """Where the local stack's consumer writes its status file (`murmur stack up`)."""
    from murmur.stack.services import IngestionConsumer

    return IngestionConsumer(settings.state_dir, 0).status_file


def collect(
    settings: Settings,
    groups: list[str],
    topic: str = EVENTS_TOPIC,
    dlq_topic: str = DLQ_TOPIC,
    status_file: Path | None = None,
) -> IngestionStatus:
    """Everything `murmur ingestion status` shows; unreachable parts are named in `errors`.

    `status_file`: a consumer's status file to read its counters from (none when absent).
    """
    status = IngestionStatus()
    if status_file is not None:
        status.status_file = str(status_file)
        try:
            status.consumers = consumer_counters(status_file)
        except ValueError as exc:
            status.errors.append(str(exc))
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
    if status.status_file and not status.consumers:
        lines.append(f"consumer counters: no status file at {status.status_file}")
    for c in status.consumers:
        state = "running" if c.running else "not running"
        age = (
            ""
            if c.updated_at is None
            else f", updated {max(time.time() - c.updated_at, 0):.0f} s ago"
        )
        lines.append(
            f"consumer {c.role} (pid {c.pid if c.pid is not None else '?'}, {state}{age}):"
        )
        lines.append("  " + " ".join(f"{name}={c.counters.get(name, '?')}" for name in COUNTERS))
    lines += [f"error: {e}" for e in status.errors]
    return "\n".join(lines)
