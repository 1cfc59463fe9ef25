"""The pieces every strategy shares: a consumed message, the two signals, the sink interface."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

# One validated event as the consumer carries it: a plain dict with every `EmailEvent` field
# (`timestamp` an aware UTC datetime, `account_id` a UUID or None). Building model instances per
# event cost more than the rest of the consumer; `EmailEvent.model_validate(row)` gives one back.
Row = dict[str, Any]


class Message(NamedTuple):
    """One consumed Kafka message (only what the strategies need; a tuple: cheap per message)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes


class InvalidMessage(Exception):
    """This message can never be processed: it goes to the DLQ with `reason`."""

    def __init__(self, message: Message, reason: str) -> None:
        super().__init__(reason)
        self.message = message
        self.reason = reason


class MessageRejected(Exception):
    """Backpressure: the sink cannot take the batch now (its store is down); retry later."""


@dataclass(frozen=True)
class Poison:
    """An event the sink refused for good (e.g. a value the store rejects): dead-letter it."""

    event: Row
    reason: str


@dataclass
class SinkResult:
    written: int = 0
    duplicates: int = 0
    poison: Sequence[Poison] = ()


class Sink(Protocol):
    """Where a validated, enriched batch goes. Must be idempotent per `event_id`.

    `write` either stores the whole batch durably (returning what it did), or raises
    `MessageRejected` having stored a part of it at most: a retry of the same batch, or a later
    redelivery, must not store any event twice.
    """

    name: str

    def prepare(self) -> None:
        """Create what the sink needs (tables); MessageRejected while its store is down."""

    def accepts(self, event: Row) -> bool:
        """Whether this sink wants the event at all; the others are not even enriched."""

    def write(self, events: Sequence[Row], stored: set[str] | None = None) -> SinkResult:
        """Store `events`; `stored` is the sink's own duplicate check of them, run ahead."""

    def close(self) -> None: ...
