"""The events sink's inserts (JSONColumns documents) against the real ClickHouse server."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import pytest

from ingestion.consumer.schema import EVENTS_COLUMNS
from ingestion.consumer.strategies.insert import ClickHouseSink, raw_json, recipient_sha256
from murmur.settings import get_settings
from tests.ingestion.consumer.helpers import event, row

pytestmark = pytest.mark.integration


@pytest.fixture
def sink(clickhouse_url: str) -> Iterator[ClickHouseSink]:
    database = f"t_{uuid.uuid4().hex[:12]}"
    sink = ClickHouseSink(get_settings(clickhouse_url=clickhouse_url, clickhouse_database=database))
    sink.prepare()
    yield sink
    sink.client().command(f"drop database `{database}`")
    sink.close()


def _stored(sink: ClickHouseSink, table: str, columns: str) -> dict[str, dict[str, object]]:
    result = sink.client().query(
        f"select event_id, {columns} from `{sink.database}`.`{table}` order by event_id"
    )
    return {r["event_id"]: r for r in result.named_results()}


def test_every_column_lands_as_the_row_holds_it(sink: ClickHouseSink) -> None:
    stamp = datetime(2026, 3, 1, 10, 0, 0, 123999, tzinfo=timezone(timedelta(hours=2)))
    matched = row(
        event(
            "all",
            type="bounce",
            bounce_type="hard",
            timestamp=stamp,
            email_record_id=2**63 - 1,
            account_id=uuid.uuid4(),
            campaign_id=3,
            contact_id=4,
            esp="ses-eu",
            provider_message_id="pm-1",
            diagnostic='550 ünïcode\n\t"quoted" \\ back',
            url="https://x.io/?a=1&b='2'",
            ip_address="203.0.113.7",
            user_agent="Mozilla/5.0",
            machine_open=True,
        )
    )
    unmatched = row(event("none", recipient=None, raw=None))
    assert sink.write([matched, unmatched]).written == 2
    names = ", ".join(f"`{n}`" for n, _ in EVENTS_COLUMNS if n not in ("event_id", "ingested_at"))
    got = _stored(sink, "events", names)
    for original in (matched, unmatched):
        stored = got[original["event_id"]]
        for name, _ in EVENTS_COLUMNS:
            if name in ("ingested_at", "account_id", "timestamp"):
                continue
            assert stored[name] == original[name], name
    first = got[matched["event_id"]]
    assert first["account_id"] == matched["account_id"]
    assert got[unmatched["event_id"]]["account_id"] == uuid.UUID(int=0)  # unmatched: nil
    # the milliseconds of the UTC time, truncated (as DateTime64(3) keeps them)
    expected = stamp.astimezone(UTC).replace(microsecond=123000, tzinfo=None)
    assert first["timestamp"].replace(tzinfo=None) == expected
    # no restricted row for an event without recipient and payload
    assert set(_stored(sink, "event_recipients", "raw")) == {matched["event_id"]}


@pytest.mark.parametrize(
    "payload",
    [
        {"event": "open", "email": "ünï@example.com", "nested": [1, {"a": None, "b": 1.5}]},
        {"n": 2**70, "m": -(2**63) - 1, "s": "x"},  # beyond what orjson writes
        {"line": '\u2028 \x00 \x1f "q" \\'},
        None,
    ],
)
def test_the_raw_payload_is_stored_as_the_same_json_value(
    sink: ClickHouseSink, payload: dict[str, object] | None
) -> None:
    original = row(event(f"raw-{uuid.uuid4().hex[:6]}", raw=payload))
    assert sink.write([original]).written == 1
    stored = _stored(sink, "event_recipients", "raw, recipient, recipient_sha256")
    got = stored[original["event_id"]]
    assert json.loads(str(got["raw"])) == (payload or {})
    assert got["raw"] == raw_json(payload)  # compact, as before
    assert got["recipient"] == original["recipient"]
    assert got["recipient_sha256"] == recipient_sha256(original["recipient"])


def test_an_event_the_insert_cannot_write_is_dead_lettered_and_the_rest_stored(
    sink: ClickHouseSink,
) -> None:
    # Regression: the recipients row of an event whose `events` values could not be written
    # was inserted before the failure (its restricted row stayed, the event was dead-lettered)
    good = [row(event(f"ok-{i}")) for i in range(5)]
    bad = row(event("bad", diagnostic="lone \ud800 surrogate"))  # no UTF-8 for it
    result = sink.write([*good[:2], bad, *good[2:]])
    assert result.written == 5
    assert [p.event["event_id"] for p in result.poison] == [bad["event_id"]]
    assert "refused" in result.poison[0].reason
    for table in ("events", "event_recipients"):
        stored = set(_stored(sink, table, "1"))
        assert stored == {e["event_id"] for e in good}, table


def test_an_event_the_server_refuses_is_dead_lettered_not_retried_forever(
    sink: ClickHouseSink,
) -> None:
    # Regression: a value ClickHouse could not parse (here a `timestamp` no validator would
    # let through) made the server refuse the batch's JSONColumns document; that error was
    # taken for an outage, so the batch was retried for ever and its partition stalled.
    good = row(event("good-2"))
    bad = row(event("server-refuses"))
    bad["timestamp"] = "not a time"
    result = sink.write([good, bad], stored=set())  # nothing stored yet: no duplicate check
    assert result.written == 1
    assert [p.event["event_id"] for p in result.poison] == [bad["event_id"]]
    assert "refused" in result.poison[0].reason
    assert set(_stored(sink, "events", "type")) == {good["event_id"]}
