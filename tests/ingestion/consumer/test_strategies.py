"""The strategy steps on their own: poison detection, batching, and the duplicate check's SQL."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from ingestion.consumer.abstract import InvalidMessage, Message
from ingestion.consumer.strategies import validate as validate_module
from ingestion.consumer.strategies.batch import Batcher
from ingestion.consumer.strategies.decode import MAX_MESSAGE_BYTES, decode
from ingestion.consumer.strategies.insert import ClickHouseSink, id_filter
from ingestion.consumer.strategies.validate import (
    UNCHECKED,
    fast_row,
    latest_allowed,
    validate,
    validate_row,
)
from murmur.events import EmailEvent
from murmur.settings import get_settings
from tests.ingestion.consumer.helpers import event, row


def _message(value: bytes, offset: int = 0, partition: int = 0) -> Message:
    return Message("t", partition, offset, None, value)


def _reason(value: bytes) -> str:
    message = _message(value)
    with pytest.raises(InvalidMessage) as info:
        validate(message, decode(message))
    with pytest.raises(InvalidMessage) as fast:
        decode(message)
        validate_row(message)
    assert fast.value.reason == info.value.reason  # the row path defers to the model
    return info.value.reason


def test_a_valid_event_round_trips() -> None:
    original = event("x", email_record_id=7)
    message = _message(original.to_json())
    assert validate(message, decode(message)) == original


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (b"", "empty message"),
        (b"\xff\xfe", "not JSON"),
        (b"[1, 2]", "invalid event: (root)"),
        (json.dumps({"type": "open"}).encode(), "invalid event: event_id"),
        (
            event("v").to_json().replace(b'"schema_version":1', b'"schema_version":2'),
            "schema_version",
        ),
        (event("t", timestamp="1970-01-01T00:00:00Z").to_json(), "timestamp"),
        (event("t", timestamp="2999-01-01T00:00:00Z").to_json(), "timestamp"),
        (event("i", contact_id=-5).to_json(), "contact_id -5 out of range"),
        (event("u").to_json()[:-1] + b',"extra":1}', "invalid event: extra"),
        # as many keys as the schema has fields, one of them not a field
        (event("s").to_json().replace(b'"esp":null', b'"xsp":null'), "invalid event: xsp"),
        (event("w").to_json().replace(b'"type":"open"', b'"type":"opened"'), "invalid event: type"),
        (
            event("e").to_json().replace(b'"event_id":"', b'"event_id":"' + b"x" * 129),
            "invalid event: event_id",
        ),
        (event("n").to_json().replace(b'"machine_open":false', b'"machine_open":[]'), "machine"),
        (event("r").to_json().replace(b'"raw":{', b'"raw":[{').replace(b"}}", b"}]}"), "raw"),
        (event("a").to_json().replace(b'"account_id":null', b'"account_id":"nope"'), "account"),
        (event("c", campaign_id=2**63).to_json(), "campaign_id"),
        (event("k").to_json().replace(b'"url":null', b'"url":5'), "invalid event: url"),
    ],
)
def test_poison_is_named_with_its_reason(value: bytes, expected: str) -> None:
    assert expected in _reason(value)


def test_the_fast_path_covers_every_field_of_the_schema() -> None:
    # a field added to EmailEvent that the row checks do not know sends every message to the
    # (slower) model path: this fails first, so the checks are extended with the schema
    assert UNCHECKED == frozenset()


@pytest.mark.parametrize(
    "original",
    [
        event("x", email_record_id=7),
        event("y", account_id=uuid.uuid4(), campaign_id=3, contact_id=4, esp="ses-eu"),
        event("z", type="bounce", bounce_type="soft", diagnostic="550 ünïcode\n", raw=None),
        event("m", timestamp="2026-03-01T10:00:00.123456+02:00", machine_open=True),
    ],
)
def test_a_row_holds_what_the_model_holds(original: EmailEvent) -> None:
    message = _message(original.to_json())
    assert validate_row(message) == row(original) == dict(validate(message, message.value))


@pytest.mark.parametrize(
    "text",
    [
        # what our producers do not write but the model accepts: the same row either way
        b'{"event_id":"a","type":"open","timestamp":"2026-01-02T03:04:05","provider":"p"}',
        b'{"event_id":"a","type":"open","timestamp":1767323045,"provider":"p","raw":{}}',
        b'{"event_id":"a","type":"open","timestamp":"2026-01-02T03:04:05Z","provider":"p",'
        b'"email_record_id":"12","machine_open":"true"}',
    ],
)
def test_rows_of_unusual_but_valid_messages_come_from_the_model(text: bytes) -> None:
    message = _message(text)
    assert validate_row(message) == dict(validate(message, text))


def test_oversized_messages_are_poison_without_parsing() -> None:
    assert "exceeds" in _reason(b" " * (MAX_MESSAGE_BYTES + 1))


def test_batches_close_at_size_or_age_and_remember_the_next_offset_per_partition() -> None:
    batcher = Batcher(max_size=3, max_time_s=0.2)
    assert not batcher.ready()
    batcher.add(_message(b"", 5, partition=0), row(event("a")))
    batcher.add(_message(b"", 9, partition=1), None)  # poison: offset only
    assert not batcher.ready()
    batcher.add(_message(b"", 6, partition=0), row(event("b")))
    assert batcher.ready()
    batch = batcher.take()
    assert len(batch.events) == 2 and batch.offsets == {("t", 0): 7, ("t", 1): 10}
    batcher.add(_message(b"", 7), row(event("c")))
    time.sleep(0.25)
    assert batcher.ready()
    batcher.drop_partitions({("t", 0)})
    assert batcher.take().offsets == {}


def test_id_filter_lists_odd_ids_apart_from_the_plain_literal() -> None:
    sql = id_filter(["abc123", "a,b", "it's"])
    assert "splitByChar(',', 'abc123')" in sql
    assert "'a,b'" in sql and "'it\\'s'" in sql


@pytest.mark.integration
def test_the_duplicate_check_finds_every_stored_id_whatever_its_characters(
    clickhouse_url: str,
) -> None:
    # ids with commas, quotes or backslashes must be found too, or they would be stored twice
    database = f"t_{uuid.uuid4().hex[:12]}"
    sink = ClickHouseSink(get_settings(clickhouse_url=clickhouse_url, clickhouse_database=database))
    sink.prepare()
    odd = ["plain-1", "a,b", "it's", "back\\slash", "tab\tnew\nline", "ünï", "x" * 128]
    stored = [row(event("s", event_id=i)) for i in odd]
    assert sink.write(stored).written == len(odd)
    again = sink.write([*stored, row(event("fresh", event_id="fresh,one"))])
    assert (again.written, again.duplicates) == (1, len(odd))
    assert sink.existing(stored) == set(odd)
    sink.client().command(f"drop database `{database}`")
    sink.close()


def test_a_row_keeps_big_integers_of_the_raw_payload_exact() -> None:
    # Regression: orjson reads integers beyond 64 bits as floats; the model keeps them exact,
    # so the fast path parses with the model's own parser
    original = event("big", raw={"n": 2**70, "m": -(2**63) - 1, "f": 1.5})
    message = _message(original.to_json())
    assert validate_row(message) == row(original)
    assert validate_row(message)["raw"]["n"] == 2**70


def test_a_payload_nested_deeper_than_the_models_parser_reads_is_poison_on_both_paths() -> None:
    # orjson reads 1024 levels deep, the model's parser about 200: whatever parses a message
    # on the fast path must not accept what the model refuses
    deep = b'{"d":' + b"[" * 300 + b"]" * 300 + b"}"
    text = event("deep").to_json().replace(b'"raw":{', b'"raw":{"nest":' + deep + b",")
    assert "recursion" in _reason(text)


@pytest.mark.parametrize("number", [-(2**63) - 1, 2**64, 10**30, -(10**18)])
def test_integers_near_and_beyond_64_bits_keep_their_value(number: int) -> None:
    # orjson reads integers outside [-2**63, 2**64) as floats; the model's parser keeps them,
    # and so must the fast path, so the stored payload keeps the number the producer wrote
    original = event("wide", raw={"n": number, "s": str(number)})
    stored = validate_row(_message(original.to_json()))["raw"]["n"]
    assert (stored, type(stored)) == (number, int)


@pytest.mark.parametrize(
    "stamp",
    [
        "2026-03-01T10:00:00.123456+02:00",
        "2026-03-01T08:00:00.123456Z",
        "2026-03-01T08:00:00.123456+00:00",
        "2026-03-01T08:00:00",
        "2026-03-01T03:00:00-05:00",
    ],
)
def test_a_timestamp_read_again_from_the_cache_is_the_models(stamp: str) -> None:
    # the fast path keeps the datetimes of the texts it read (a batch's events share their
    # second): the second and later reads of a text must give what the model gives
    text = event("c").to_json()
    start = text.index(b'"timestamp":"') + len(b'"timestamp":"')
    value = text[:start] + stamp.encode() + text[text.index(b'"', start) :]
    message = _message(value)
    expected = dict(validate(message, value))
    for _ in range(3):
        got = validate_row(message)
        assert got == expected and got["timestamp"].tzinfo is UTC
    assert stamp in validate_module._MOMENTS  # read from the cache after the first time


def test_a_cached_timestamp_is_still_checked_against_the_latest_allowed() -> None:
    original = event("late")
    value = original.to_json()
    assert fast_row(value, latest_allowed()) is not None  # read and kept
    before = original.timestamp - timedelta(seconds=1)
    assert fast_row(value, before) is None  # the kept datetime is out of range now


def test_the_timestamp_cache_stays_bounded() -> None:
    base = datetime(2026, 1, 1, tzinfo=UTC)
    latest = latest_allowed()
    for i in range(validate_module._MOMENTS_MAX + 10):
        stamp = (base + timedelta(seconds=i)).isoformat()
        row_ = fast_row(event("b", timestamp=stamp).to_json(), latest)
        assert row_ is not None and row_["timestamp"] == base + timedelta(seconds=i)
    assert len(validate_module._MOMENTS) <= validate_module._MOMENTS_MAX
