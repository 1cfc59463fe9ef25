"""The consumer's frozen configuration and the Kafka client configs built from it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from murmur.kafka import DLQ_TOPIC, EVENTS_TOPIC, consumer_config, producer_config
from murmur.settings import Settings


@dataclass(frozen=True)
class ConsumerConfig:
    bootstrap_servers: str
    group_id: str
    topic: str = EVENTS_TOPIC
    dlq_topic: str = DLQ_TOPIC
    batch_size: int = 5000
    batch_time_s: float = 0.5
    # Tansu completes a group join after about half the session timeout (measured: 6 s → 3 s,
    # librdkafka's default 45 s → 23 s), and a killed member's partitions move after one session
    # timeout: keep it short.
    session_timeout_ms: int = 6000
    heartbeat_interval_ms: int = 500
    # how long a hole in a partition's offsets is re-read (strategies/offsets.py); 0: no check
    hole_wait_s: float = 30.0
    retry_initial_s: float = 0.2
    retry_max_s: float = 5.0
    stats_interval_s: float = 10.0

    @classmethod
    def from_settings(cls, settings: Settings, group_id: str, **overrides: Any) -> ConsumerConfig:
        values: dict[str, Any] = {
            "bootstrap_servers": settings.require("kafka_bootstrap_servers"),
            "group_id": group_id,
            "batch_size": settings.consumer_batch_size,
            "batch_time_s": settings.consumer_batch_time_ms / 1000,
            "session_timeout_ms": settings.consumer_session_timeout_ms,
            "heartbeat_interval_ms": settings.consumer_heartbeat_interval_ms,
            "hole_wait_s": settings.consumer_hole_wait_s,
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def kafka_consumer(self) -> dict[str, Any]:
        return consumer_config(
            self.bootstrap_servers,
            self.group_id,
            **{
                "session.timeout.ms": self.session_timeout_ms,
                "heartbeat.interval.ms": self.heartbeat_interval_ms,
                # fetch in large chunks: one batch is thousands of small messages
                "fetch.wait.max.ms": 100,
                # no transactions write these topics, so nothing needs holding back; with
                # librdkafka's default (read_committed: nothing past the last stable offset,
                # which Tansu reports per record batch) a benchmark run once waited in vain
                # for the last records of a partition
                "isolation.level": "read_uncommitted",
                "queued.max.messages.kbytes": 65536,
            },
        )

    def kafka_producer(self) -> dict[str, Any]:
        return producer_config(self.bootstrap_servers)
