"""Step 2: JSON bytes → a row the store can hold. Anything else is poison.

Fast path: pydantic-core's JSON parser reads the message and strict checks against
`EmailEvent`'s fields (the table in `ingestion.event_fields`, shared with the receiver) accept
what our producers write (every field present, of its JSON type, ISO timestamps) into a plain
dict.
Whatever the fast path does not accept goes through `validate`, the pydantic model itself, which
decides and names the reason: the fast path only ever accepts what the model accepts, with the
same values, so the two paths never disagree on what is poison.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pydantic_core
from pydantic import ValidationError

from ingestion.consumer.abstract import InvalidMessage, Message, Row
from ingestion.event_fields import (
    DEFAULTS,
    FIELDS,
    IDS,
    MAX_ID,
    REQUIRED,
    UNCHECKED,
    shared_fields_ok,
)
from murmur.events import EmailEvent

# ClickHouse DateTime64 holds 1900..2299; an event outside this window is a bug or an attack
# (and would scatter one insert over hundreds of monthly partitions).
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
MAX_FUTURE = timedelta(days=7)


def validate(message: Message, data: bytes) -> EmailEvent:
    """The message as an `EmailEvent` (pydantic), or InvalidMessage naming the first problem."""
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
    for name in IDS:
        value = getattr(event, name)
        if value is not None and not 0 <= value <= MAX_ID:
            raise InvalidMessage(message, f"{name} {value} out of range")
    return event


_FIELDS = frozenset(FIELDS)
# the ISO 8601 forms both pydantic and datetime.fromisoformat read the same way
_STAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,6})?(?:Z|[+-]\d\d:\d\d)?")


def _fast(row: Any, latest: datetime) -> bool:
    """Check (and complete) a parsed message in place; False sends it to the model instead."""
    if type(row) is not dict or UNCHECKED:
        return False
    if len(row) != len(_FIELDS):
        if not (row.keys() <= _FIELDS and REQUIRED <= row.keys()):
            return False
        for name, default in DEFAULTS.items():
            row.setdefault(name, default)
    try:
        return _check(row, latest)
    except KeyError:  # as many keys as fields, not all of them fields: an extra one
        return False


# timestamp text → its UTC datetime: the events of one webhook batch mostly share their second
# (SendGrid's stamps are whole seconds), so most texts are read once per batch, not per event
_MOMENTS: dict[str, datetime] = {}
_MOMENTS_MAX = 4096


def _moment(stamp: str) -> datetime | None:
    """The UTC datetime of an ISO text the model reads the same way, else None."""
    moment = _MOMENTS.get(stamp)
    if moment is not None:
        return moment
    if not _STAMP.fullmatch(stamp):
        return None
    try:
        moment = datetime.fromisoformat(stamp)
    except ValueError:
        return None
    zone = moment.tzinfo
    if zone is not UTC:  # "Z" and "+00:00" read as UTC itself: nothing to convert
        moment = moment.replace(tzinfo=UTC) if zone is None else moment.astimezone(UTC)
    if len(_MOMENTS) >= _MOMENTS_MAX:
        _MOMENTS.clear()
    _MOMENTS[stamp] = moment
    return moment


def _check(row: Row, latest: datetime) -> bool:
    """Every field read once (a missing one raises KeyError), checked, converted last."""
    if not shared_fields_ok(row):
        return False
    account = row["account_id"]
    stamp = row["timestamp"]
    if type(stamp) is not str:
        return False
    moment = _moment(stamp)
    if moment is None or not EARLIEST <= moment <= latest:
        return False
    if account is not None:
        if type(account) is not str or len(account) != 36:
            return False
        try:
            row["account_id"] = uuid.UUID(account)
        except ValueError:
            return False
    row["timestamp"] = moment
    return True


def latest_allowed() -> datetime:
    """The latest timestamp accepted now (computed once per poll, not per message)."""
    return datetime.now(UTC) + MAX_FUTURE


def fast_row(value: bytes, latest: datetime) -> Row | None:
    """The row of a message our producers wrote, or None: then `validate` decides."""
    try:
        # pydantic-core's parser (jiter), the one the model uses: the same values to the bit
        # (big integers stay integers, where orjson turns them into floats; orjson also nests
        # deeper than the model reads). orjson is faster, but the check of a message for what
        # it reads differently (a run of 19 digits, 200 brackets) cost as much as it saved.
        row = pydantic_core.from_json(value, allow_inf_nan=False, cache_strings="keys")
    except ValueError:
        return None
    if not _fast(row, latest):
        return None
    result: Row = row
    return result


def validate_row(message: Message, latest: datetime | None = None) -> Row:
    """The message's event as a row; InvalidMessage (with the model's reason) for poison."""
    row = fast_row(message.value, latest or latest_allowed())
    return model_row(message) if row is None else row


def model_row(message: Message) -> Row:
    """The row through the model (`validate`): what the fast path did not accept."""
    return dict(validate(message, message.value).__dict__)
