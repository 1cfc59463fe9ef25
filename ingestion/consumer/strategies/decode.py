"""Step 1: the bytes of one message, checked before any parsing. Anything else is poison."""

from __future__ import annotations

from ingestion.consumer.abstract import InvalidMessage, Message

MAX_MESSAGE_BYTES = 4 * 1024 * 1024  # far above any event; bounds what one message can cost


def decode(message: Message) -> bytes:
    value = message.value
    if not value:
        raise InvalidMessage(message, "empty message")
    if len(value) > MAX_MESSAGE_BYTES:
        raise InvalidMessage(message, f"message of {len(value)} bytes exceeds {MAX_MESSAGE_BYTES}")
    return value
