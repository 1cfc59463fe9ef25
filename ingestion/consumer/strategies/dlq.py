"""Poison messages → the DLQ topic, with the error and the original bytes, acked before commit."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import KafkaError, Producer

from ingestion.consumer.abstract import Message, MessageRejected, Row
from murmur.events import EmailEvent


def row_message(row: Row) -> tuple[bytes, bytes]:
    """(key, value) of a validated row as the topic holds it, for dead-lettering it."""
    try:
        event = EmailEvent.model_validate(row)
    except ValueError:  # changed by enrichment into something the model refuses
        record = row.get("email_record_id")
        key = str(row.get("event_id") if record is None else record)
        return key.encode(), json.dumps(row, default=str).encode()
    return event.kafka_key(), event.to_json()


class DeadLetters:
    def __init__(self, producer: Producer, topic: str, source: str) -> None:
        self.producer = producer
        self.topic = topic
        self.source = source
        self.sent = 0
        self._failed: list[tuple[bytes | None, bytes]] = []

    def send(self, message: Message, reason: str) -> None:
        payload: dict[str, Any] = {
            "error": reason,
            "source": self.source,
            "received_at": datetime.now(UTC).isoformat(),
            "original_b64": base64.b64encode(message.value).decode(),
            "topic": message.topic,
            "partition": message.partition,
            "offset": message.offset,
        }
        if message.key is not None:
            payload["key_b64"] = base64.b64encode(message.key).decode()
        self._produce(message.key, json.dumps(payload).encode())
        self.sent += 1

    def _produce(self, key: bytes | None, value: bytes) -> None:
        def delivered(err: KafkaError | None, _msg: object) -> None:
            if err is not None:
                self._failed.append((key, value))

        try:
            self.producer.produce(self.topic, value, key=key, on_delivery=delivered)
        except BufferError:
            self.producer.poll(1.0)
            self.producer.produce(self.topic, value, key=key, on_delivery=delivered)
        self.producer.poll(0)

    def flush(self, timeout: float = 10.0) -> None:
        """Wait until the broker acknowledged every dead letter; MessageRejected otherwise."""
        remaining = self.producer.flush(timeout)
        if self._failed:
            failed, self._failed = self._failed, []
            for key, value in failed:  # produce again; the batch is retried after a pause
                self._produce(key, value)
            raise MessageRejected(f"{len(failed)} dead letter(s) were not acknowledged")
        if remaining:
            raise MessageRejected(f"{remaining} dead letter(s) still in flight after {timeout}s")
