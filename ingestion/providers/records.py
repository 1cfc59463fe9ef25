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

from ingestion.event_fields import TEMPLATE, shared_fields_ok
from ingestion.event_fields import UNCHECKED as UNCHECKED
from murmur.events import EmailEvent, canonical_hash, make_event_id, recipient_domain
from murmur.kafka import EVENTS_TOPIC

Record = tuple[str, bytes | None, bytes]  # topic, key, value
Values = dict[str, Any]

# the model writes inf/nan as its config says (null by default); pydantic-core's own default
# for plain values differs ("Infinity")
_INF_NAN = EmailEvent.model_config.get("ser_json_inf_nan") or "null"
_SIZE = len(TEMPLATE)


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
    return values_of(provider, event_type, key, payload, timestamp, recipient, fields)


def values_of(
    provider: str,
    event_type: str,
    key: str | None,
    payload: Any,
    timestamp: datetime,
    recipient: str | None,
    fields: Values,
) -> Values:
    """`event_values` with the other fields as one dict (no keyword packing per event)."""
    event_key = key if key else canonical_hash(payload)
    if recipient and key is None:
        event_key += ":" + recipient
    values = TEMPLATE.copy()  # the model's field order; an unknown name lands at the end
    values.update(fields)
    values["event_id"] = make_event_id(provider, event_type, event_key)
    values["type"] = event_type
    values["timestamp"] = timestamp
    values["provider"] = provider
    values["provider_event_id"] = key
    values["recipient"] = recipient
    values["recipient_domain"] = recipient_domain(recipient)
    values["raw"] = payload if isinstance(payload, dict) else {"payload": payload}
    return values


def _plain(values: Values) -> bool:
    """Whether the model would take every value as it is (same types, nothing to convert)."""
    if UNCHECKED or len(values) != _SIZE:  # an unknown keyword: the model refuses it
        return False
    stamp = values["timestamp"]
    if type(stamp) is not datetime or stamp.tzinfo is not UTC or values["account_id"] is not None:
        return False
    return shared_fields_ok(values)


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
