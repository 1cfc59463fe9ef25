"""Normalized events straight to Kafka records, without a model instance per event.

For a batch provider (SendGrid posts 1,000 events a request) building an `EmailEvent` and then
serializing it was most of the receiver's work per event. `event_values` gives the event's
fields as a dict in the model's field order; `fast_record` serializes it with pydantic-core's
own JSON serializer (the bytes `EmailEvent.to_json` writes) once strict checks show the model
would accept these values unchanged. Anything else goes through the model, which decides,
names the problem and serializes as before: both paths give the same bytes for the same event.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pydantic_core

from murmur.events import (
    BOUNCE_TYPES,
    EVENT_TYPES,
    SCHEMA_VERSION,
    EmailEvent,
    canonical_hash,
    make_event_id,
    recipient_domain,
)
from murmur.kafka import EVENTS_TOPIC

Record = tuple[str, bytes | None, bytes]  # topic, key, value
Values = dict[str, Any]

_FIELDS = EmailEvent.model_fields
# every field, in the model's order, with its default (required ones are always given)
_TEMPLATE: Values = {name: None if f.is_required() else f.default for name, f in _FIELDS.items()}
_TEXTS = tuple(n for n, f in _FIELDS.items() if f.annotation == (str | None) and not f.metadata)
_INTS = tuple(n for n, f in _FIELDS.items() if f.annotation == (int | None) and not f.metadata)
_CHECKED = {"schema_version", "event_id", "type", "timestamp", "provider", "account_id"}
_CHECKED |= {"bounce_type", "machine_open", "raw", *_TEXTS, *_INTS}
UNCHECKED = frozenset(_FIELDS) - _CHECKED  # a new field: the fast path stays off until checked
# the model writes inf/nan as its config says (null by default); pydantic-core's own default
# for plain values differs ("Infinity")
_INF_NAN = EmailEvent.model_config.get("ser_json_inf_nan") or "null"
_TYPES = frozenset(EVENT_TYPES)
_BOUNCES = frozenset(BOUNCE_TYPES)


def event_values(
    provider: str,
    event_type: str,
    key: str | None,
    payload: Any,
    *,
    timestamp: datetime,
    recipient: str | None = None,
    **fields: Any,
) -> Values:
    """One normalized event's fields; `key` is the provider's event id, else the payload hash."""
    event_key = key if key else canonical_hash(payload)
    if recipient and key is None:
        event_key += ":" + recipient
    values = dict(_TEMPLATE)
    values.update(
        event_id=make_event_id(provider, event_type, event_key),
        type=event_type,
        timestamp=timestamp,
        provider=provider,
        provider_event_id=key,
        recipient=recipient,
        recipient_domain=recipient_domain(recipient),
        raw=payload if isinstance(payload, dict) else {"payload": payload},
        **fields,
    )
    return values


def _plain(values: Values) -> bool:
    """Whether the model would take every value as it is (same types, nothing to convert)."""
    if UNCHECKED or len(values) != len(_TEMPLATE):  # an unknown keyword: the model refuses it
        return False
    kind, bounce, eid, provider = (
        values["type"],
        values["bounce_type"],
        values["event_id"],
        values["provider"],
    )
    stamp = values["timestamp"]
    if not (type(kind) is str and kind in _TYPES and values["schema_version"] == SCHEMA_VERSION):
        return False
    if bounce is not None and not (type(bounce) is str and bounce in _BOUNCES):
        return False
    if not (type(eid) is str and 0 < len(eid) <= 128 and type(provider) is str):
        return False
    if not 0 < len(provider) <= 32 or type(values["machine_open"]) is not bool:
        return False
    if type(stamp) is not datetime or stamp.tzinfo is not UTC or values["account_id"] is not None:
        return False
    if type(values["raw"]) is not dict:
        return False
    for name in _TEXTS:
        value = values[name]
        if value is not None and type(value) is not str:
            return False
    for name in _INTS:
        value = values[name]
        if value is not None and type(value) is not int:
            return False
    return True


def fast_record(values: Values) -> Record | None:
    """The Kafka record of plain values (what `EmailEvent(**values).to_json()` gives), or None."""
    if not _plain(values):
        return None
    try:
        value = pydantic_core.to_json(values, inf_nan_mode=_INF_NAN)
    except (ValueError, RecursionError):  # the model path reports it
        return None
    record = values["email_record_id"]
    key = str(record).encode() if record is not None else values["event_id"].encode()
    return (EVENTS_TOPIC, key, value)


def model_record(values: Values) -> Record:
    """The record through the model: ValueError (ValidationError) when it refuses the values."""
    event = EmailEvent(**values)
    try:
        return (EVENTS_TOPIC, event.kafka_key(), event.to_json())
    except (ValueError, RecursionError) as exc:
        raise ValueError(f"event {event.event_id} cannot be serialized: {str(exc)[:200]}") from None
