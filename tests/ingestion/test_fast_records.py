"""The receiver's model-free path gives the same Kafka records as going through `EmailEvent`."""

from __future__ import annotations

import time
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from ingestion.providers import sendgrid
from ingestion.providers.common import normalize_each, normalize_records
from ingestion.providers.records import UNCHECKED, fast_record
from ingestion.receiver.app import _serialize

NOW = int(time.time())
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)
_value = st.one_of(_json, st.sampled_from(["", "5.1.1", "4.2.0", "blocked", "Invalid Address"]))
_items = st.fixed_dictionaries(
    {
        "event": st.sampled_from([*sendgrid._TYPES, "nope", 3]),
        "timestamp": st.one_of(
            st.integers(NOW - 10**6, NOW), st.just("2026-01-01T00:00:00.5Z"), _value
        ),
    },
    optional={
        name: _value
        for name in (
            "email",
            "sg_event_id",
            "sg_message_id",
            "smtp-id",
            "murmur_email_id",
            "ip",
            "useragent",
            "url",
            "reason",
            "status",
            "type",
            "bounce_classification",
            "sg_machine_open",
        )
    },
)


def _via_model(items: list[Any]) -> tuple[list[tuple[str, bytes | None, bytes]], list[str]]:
    outcome = normalize_each("sendgrid", items, sendgrid._one)
    records = _serialize(outcome)
    return records, outcome.dead


def test_the_fast_path_covers_every_field_of_the_schema() -> None:
    # a field added to EmailEvent that the checks do not know turns the fast path off: this
    # fails first, so the checks are extended with the schema
    assert UNCHECKED == frozenset()


def test_a_typical_batch_takes_the_fast_path_with_the_models_bytes() -> None:
    items = [
        {"email": "a@example.com", "timestamp": NOW, "event": kind, "sg_event_id": f"e{i}"}
        for i, kind in enumerate(["delivered", "open", "click", "bounce", "processed"])
    ]
    assert all(fast_record(sendgrid._values(item)) is not None for item in items)
    outcome = normalize_records("sendgrid", items, sendgrid._values)
    assert (outcome.records, outcome.dead) == _via_model(items)


def test_infinities_in_a_payload_are_written_as_the_model_writes_them() -> None:
    # Regression: pydantic-core's plain serializer writes Infinity, the model null
    items = [{"event": "open", "timestamp": NOW, "sg_event_id": "i", "n": float("inf")}]
    outcome = normalize_records("sendgrid", items, sendgrid._values)
    assert outcome.records == _via_model(items)[0]
    assert b'"n":null' in outcome.records[0][2]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(_items, _json), max_size=6))
def test_any_batch_gives_the_records_and_dead_letters_of_the_model_path(items: list[Any]) -> None:
    outcome = normalize_records("sendgrid", items, sendgrid._values)
    records, dead = _via_model(items)
    assert outcome.records == records
    # the same items are refused; a serialization failure is now named with its item number
    assert len(outcome.dead) == len(dead)
    assert outcome.events == []


_hashable = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()  # nan and infinities too: json.dumps writes NaN / Infinity
    | st.text()
    | st.datetimes(),  # not JSON: default=str
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text() | st.integers() | st.booleans() | st.none(), inner, max_size=3)
    ),
    max_leaves=10,
)


@given(_hashable)
@settings(max_examples=300, deadline=None)
def test_canonical_hash_is_the_documented_json_dumps_hash(payload: Any) -> None:
    # the shared C encoder must hash exactly what json.dumps(sort_keys, compact, default=str)
    # wrote before it: event ids of payloads without a provider id must not change
    import hashlib
    import json

    from murmur.events import canonical_hash

    try:
        text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    except TypeError:  # keys of mixed types cannot be sorted: both ways refuse the payload
        try:
            canonical_hash(payload)
        except TypeError:
            return
        raise AssertionError("canonical_hash took a payload json.dumps refuses") from None
    assert canonical_hash(payload) == hashlib.sha256(text.encode()).hexdigest()
