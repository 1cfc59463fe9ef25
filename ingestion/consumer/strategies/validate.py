"""Step 2: JSON bytes → an `EmailEvent` the store can hold. Anything else is poison.

Parsing and validation happen in one pass (pydantic-core parses the JSON itself, several times
faster than `json.loads` followed by validation).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pydantic import ValidationError

from ingestion.consumer.abstract import InvalidMessage, Message
from murmur.events import EmailEvent

# ClickHouse DateTime64 holds 1900..2299; an event outside this window is a bug or an attack
# (and would scatter one insert over hundreds of monthly partitions).
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
MAX_FUTURE = timedelta(days=7)
MAX_ID = 2**63 - 1


def validate(message: Message, data: bytes) -> EmailEvent:
    try:
        event = EmailEvent.model_validate_json(data)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        if first["type"] == "json_invalid":
            raise InvalidMessage(message, f"not JSON: {first['msg']}") from None
        field = ".".join(str(p) for p in first["loc"]) or "(root)"
        more = f" (+{exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise InvalidMessage(message, f"invalid event: {field}: {first['msg']}{more}") from None
    latest = datetime.now(UTC) + MAX_FUTURE
    if not EARLIEST <= event.timestamp <= latest:
        raise InvalidMessage(message, f"timestamp {event.timestamp.isoformat()} out of range")
    for name in ("email_record_id", "campaign_id", "contact_id"):
        value = getattr(event, name)
        if value is not None and not 0 <= value <= MAX_ID:
            raise InvalidMessage(message, f"{name} {value} out of range")
    return event
