"""Event sinks: send/reject/bounce events of our own sends onto the Kafka events topic."""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

from murmur.events import EmailEvent

if TYPE_CHECKING:
    from confluent_kafka import KafkaError, Message

log = logging.getLogger("sender.events")
POLL_EVERY = 256  # events produced between two polls for delivery reports


class EventDeliveryError(RuntimeError):
    """The broker did not acknowledge every event."""


class KafkaEventSink:
    """Produces each event to `email-events` keyed by email record; `flush` waits for acks."""

    def __init__(self, bootstrap_servers: str, topic: str | None = None, **overrides: Any) -> None:
        """`topic` defaults to `murmur.kafka.EVENTS_TOPIC`."""
        # imported here: a dispatch without events (`--no-events`) never loads the Kafka client
        from confluent_kafka import Producer

        from murmur.kafka import EVENTS_TOPIC, producer_config

        self.topic = topic or EVENTS_TOPIC
        self.producer = Producer(producer_config(bootstrap_servers, **overrides))
        self.lock = threading.Lock()
        self.errors: list[str] = []
        self.delivered = 0
        self.produced = 0

    def _done(self, err: KafkaError | None, msg: Message) -> None:
        if err is not None:
            self.errors.append(str(err))
        else:
            self.delivered += 1

    def emit(self, event: EmailEvent) -> None:
        value, key = event.to_json(), event.kafka_key()  # serialised outside the lock
        with self.lock:
            while True:
                try:
                    self.producer.produce(self.topic, value, key, on_delivery=self._done)
                    break
                except BufferError:  # the local queue is full: serve acks until there is room
                    self.producer.poll(0.1)
            self.produced += 1
            if self.produced % POLL_EVERY == 0:  # acks are served in bulk (and by flush)
                self.producer.poll(0)

    def flush(self, timeout: float = 30.0) -> None:
        with self.lock:
            left = self.producer.flush(timeout)
            errors, self.errors = self.errors, []
        if left or errors:
            raise EventDeliveryError(
                f"{left} send events not acknowledged by Kafka; errors: {errors[:3]}"
            )


class DiscardEventSink:
    """For `--no-events`: events are logged at debug level and dropped.

    `discards` tells the Manager not to build the send events at all (the router still hands
    over its rare deferral events).
    """

    discards = True

    def emit(self, event: EmailEvent) -> None:
        log.debug("event %s %s (discarded)", event.type, event.email_record_id)

    def flush(self) -> None:
        return None
