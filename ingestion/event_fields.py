"""The field checks of `EmailEvent` that the receiver's and the consumer's fast paths share.

Both apps skip the pydantic model for what they can check more cheaply: the receiver when it
serializes the values it built (`ingestion.providers.records`), the consumer when it reads a
message back (`ingestion.consumer.strategies.validate`). Each accepts only values the model
takes unchanged and sends everything else through the model, which decides and names the
reason. The fields whose JSON form and Python form are the same (texts, ids, flags, the raw
payload) are checked here, once, from the model's own field list; the two that differ
(`timestamp`: a datetime in the receiver, ISO text in a message; `account_id`: a UUID or its
text) each side checks itself.
"""

from __future__ import annotations

from typing import Any

from annotated_types import MaxLen, MinLen

from murmur.events import BOUNCE_TYPES, EVENT_TYPES, SCHEMA_VERSION, EmailEvent

MAX_ID = 2**63 - 1  # the ids are Int64 in ClickHouse
IDS = ("email_record_id", "campaign_id", "contact_id")
# checked by each side itself (their Python and JSON forms differ)
OWN = frozenset({"timestamp", "account_id"})
FIELDS = EmailEvent.model_fields
# every field, in the model's order, with its default (required ones are always given)
TEMPLATE: dict[str, Any] = {n: None if f.is_required() else f.default for n, f in FIELDS.items()}
REQUIRED = frozenset(n for n, f in FIELDS.items() if f.is_required())
DEFAULTS = {n: f.default for n, f in FIELDS.items() if not f.is_required()}
TYPES = frozenset(EVENT_TYPES)
BOUNCES = frozenset(BOUNCE_TYPES)


def _length(name: str) -> tuple[int, int]:
    """(min, max) length of a constrained text field, from the model's metadata."""
    low, high = 0, 10**9
    for item in FIELDS[name].metadata:
        if isinstance(item, MinLen):
            low = item.min_length
        elif isinstance(item, MaxLen):
            high = item.max_length
    return low, high


EVENT_ID_LEN = _length("event_id")
PROVIDER_LEN = _length("provider")
_SPECIAL = {"schema_version", "event_id", "type", "provider", "bounce_type", "machine_open", "raw"}
TEXTS = tuple(
    n
    for n, f in FIELDS.items()
    if n not in _SPECIAL and f.annotation == (str | None) and not f.metadata
)
INTS = tuple(
    n for n, f in FIELDS.items() if n in IDS and f.annotation == (int | None) and not f.metadata
)
# a field added to the model that no check knows: both fast paths stay off until it is checked
UNCHECKED = frozenset(FIELDS) - _SPECIAL - OWN - set(TEXTS) - set(INTS)
_OPTIONAL_TEXT = (str, type(None))


def shared_fields_ok(values: dict[str, Any]) -> bool:
    """Whether the model takes these fields as they are (KeyError when one is missing).

    Everything but `OWN`: exact types (a bool is not an int, an int is not a str), the
    literals' values, the texts' lengths, ids within Int64.
    """
    version, kind, bounce = values["schema_version"], values["type"], values["bounce_type"]
    if type(version) is not int or version != SCHEMA_VERSION:
        return False
    if not (type(kind) is str and kind in TYPES):
        return False
    if bounce is not None and not (type(bounce) is str and bounce in BOUNCES):
        return False
    eid, provider = values["event_id"], values["provider"]
    if not (type(eid) is str and EVENT_ID_LEN[0] <= len(eid) <= EVENT_ID_LEN[1]):
        return False
    if not (type(provider) is str and PROVIDER_LEN[0] <= len(provider) <= PROVIDER_LEN[1]):
        return False
    if type(values["machine_open"]) is not bool:
        return False
    raw = values["raw"]
    if raw is not None and type(raw) is not dict:
        return False
    for name in TEXTS:
        if type(values[name]) not in _OPTIONAL_TEXT:
            return False
    for name in INTS:
        value = values[name]
        if value is not None and not (type(value) is int and 0 <= value <= MAX_ID):
            return False
    return True
