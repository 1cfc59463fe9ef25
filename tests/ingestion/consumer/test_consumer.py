"""The events consumer against the real broker, ClickHouse server and Postgres ledger."""

from __future__ import annotations

import base64
import json
import signal
import subprocess
import sys
import uuid

import pytest
from confluent_kafka import Consumer

from murmur.kafka import consumer_config
from murmur.net import wait_until
from tests.ingestion.conftest import ConsumerRunner, MakeLedger, Topics, produce
from tests.ingestion.consumer.helpers import (
    ch_client,
    count,
    event,
    table_exists,
    unique_events,
    wait_committed,
)

pytestmark = pytest.mark.integration


def test_events_land_enriched_from_the_ledger_and_unmatched_ones_are_kept(
    consumers: ConsumerRunner,
    topics: Topics,
    kafka_bootstrap: str,
    clickhouse_url: str,
    make_ledger: MakeLedger,
) -> None:
    by_record, by_message = make_ledger(), make_ledger()
    events = [
        event(f"{uuid.uuid4()}", type="delivery", email_record_id=by_record.email_record_id),
        event(f"{uuid.uuid4()}", type="open", provider_message_id=by_message.esp_message_id),
        event(
            f"{uuid.uuid4()}", type="click", provider_message_id="nobody-knows", url="https://x.io"
        ),
    ]
    produce(kafka_bootstrap, topics.events, list(events))
    consumers.start(topics, "--role", "events")
    wait_committed(kafka_bootstrap, topics.group, topics.events, 3, timeout=90)
    assert "startup objects frozen" in consumers.logs()  # the CLI tuned its collector

    db = consumers.env["MURMUR_CLICKHOUSE_DATABASE"]
    client = ch_client(clickhouse_url)
    rows = client.query(
        f"select event_id, toString(account_id), campaign_id, contact_id, email_record_id, esp, "
        f"empty(account_id) from `{db}`.events"
    ).named_results()
    got = {r["event_id"]: r for r in rows}
    assert set(got) == {e.event_id for e in events}
    first, second, third = (got[e.event_id] for e in events)
    assert (first["toString(account_id)"], first["campaign_id"], first["contact_id"]) == (
        str(by_record.account_id),
        by_record.campaign_id,
        by_record.contact_id,
    )
    assert first["esp"] == "sendgrid"
    assert second["email_record_id"] == by_message.email_record_id
    assert second["toString(account_id)"] == str(by_message.account_id)
    assert third["empty(account_id)"] == 1 and third["email_record_id"] is None

    columns = {r[0] for r in client.query(f"describe table `{db}`.events").result_rows}
    assert "recipient" not in columns and "raw" not in columns and "ingested_at" in columns
    restricted = client.query(
        f"select event_id, recipient, recipient_sha256, raw from `{db}`.event_recipients"
    ).result_rows
    assert {r[0] for r in restricted} == {e.event_id for e in events}
    assert all(r[1].endswith("@example.com") and len(r[2]) == 64 for r in restricted)
    assert json.loads(restricted[0][3])["event"] == "open"
    # the counters are logged every second: wait for the line after the commit
    wait_until(lambda: "unmatched=1" in consumers.logs(), 30, "the unmatched count in the log")


def test_one_event_delivered_40_times_counts_once_before_any_merge(
    consumers: ConsumerRunner, topics: Topics, kafka_bootstrap: str, clickhouse_url: str
) -> None:
    once = event(f"dup-{uuid.uuid4()}", type="delivery")
    others = unique_events(5)
    produce(kafka_bootstrap, topics.events, [once] * 20 + others)
    status_file = consumers.log_dir / "consumer.status.json"
    proc = consumers.start(topics, "--role", "events", "--status-file", str(status_file))
    wait_committed(kafka_bootstrap, topics.group, topics.events, 25, timeout=90)
    produce(kafka_bootstrap, topics.events, [once] * 20)  # later batches: checked in ClickHouse
    wait_committed(kafka_bootstrap, topics.group, topics.events, 45, timeout=60)

    db = consumers.env["MURMUR_CLICKHOUSE_DATABASE"]
    client = ch_client(clickhouse_url)
    assert count(client, db) == 6
    assert (
        count(client, db, f"select count() from {{db}}.events where event_id = '{once.event_id}'")
        == 1
    )
    assert count(client, db, "select count() from {db}.event_recipients final") == 6
    wait_until(lambda: "duplicates=39" in consumers.logs(), 30, "the duplicate count in the log")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0

    argv = [sys.executable, "-m", "murmur", "ingestion", "status", "--json", "--group"]
    argv += [topics.group, "--topic", topics.events, "--dlq-topic", topics.dlq]
    argv += ["--status-file", str(status_file)]
    done = subprocess.run(argv, env=consumers.env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    status = json.loads(done.stdout)
    assert status["events"] == 6 and status["unmatched"] == 6
    assert status["by_type"] == {"delivery": 1, "open": 5}
    assert status["groups"][0]["committed"] == 45 and status["dlq_messages"] == 0
    # the stopped consumer's last counters, from its status file: no holes in the offsets
    [counters] = [c["counters"] for c in status["consumers"] if c["role"] == "events"]
    assert counters["consumed"] == 45 and counters["duplicates"] == 39, counters
    assert (counters["late_batches"], counters["skipped_offsets"], counters["rewinds"]) == (0, 0, 0)


def test_poison_messages_go_to_the_dlq_with_their_original_bytes(
    consumers: ConsumerRunner, topics: Topics, kafka_bootstrap: str, clickhouse_url: str
) -> None:
    good = event(f"good-{uuid.uuid4()}")
    bad_json = b"{not json"
    bad_schema = json.dumps({"event_id": "x", "type": "teleport"}).encode()
    bad_version = good.to_json().replace(b'"schema_version":1', b'"schema_version":9')
    produce(kafka_bootstrap, topics.events, [bad_json, good, bad_schema, bad_version])
    consumers.start(topics, "--role", "events")
    wait_committed(kafka_bootstrap, topics.group, topics.events, 4, timeout=90)

    db = consumers.env["MURMUR_CLICKHOUSE_DATABASE"]
    assert count(ch_client(clickhouse_url), db) == 1
    reader = Consumer(consumer_config(kafka_bootstrap, f"dlq-{uuid.uuid4().hex}"))
    reader.subscribe([topics.dlq])
    letters: list[dict[str, str]] = []

    def three_letters() -> bool:
        letters.extend(json.loads(m.value()) for m in reader.consume(10, 0.5) if not m.error())
        return len(letters) >= 3

    try:
        wait_until(three_letters, 60, "three dead letters")
    finally:
        reader.close()
    originals = {base64.b64decode(d["original_b64"]): d for d in letters}
    assert set(originals) == {bad_json, bad_schema, bad_version}
    assert originals[bad_json]["error"].startswith("not JSON")
    assert "type" in originals[bad_schema]["error"]
    assert "schema_version" in originals[bad_version]["error"]
    assert all(d["source"] == "consumer:events" and d["received_at"] for d in letters)


def test_sigkill_mid_batch_then_restart_stores_every_event_exactly_once(
    consumers: ConsumerRunner, topics: Topics, kafka_bootstrap: str, clickhouse_url: str
) -> None:
    total = 20_000
    produce(kafka_bootstrap, topics.events, list(unique_events(total)))
    db = consumers.env["MURMUR_CLICKHOUSE_DATABASE"]
    client = ch_client(clickhouse_url)
    proc = consumers.start(topics, "--role", "events", "--batch-size", "500")
    wait_until(
        lambda: table_exists(client, db) and count(client, db) >= 1000, 120, "first batches stored"
    )
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    stored_at_kill = count(client, db)
    assert stored_at_kill < total, "the consumer finished before the kill; raise `total`"

    consumers.start(topics, "--role", "events", "--batch-size", "2000")
    wait_committed(kafka_bootstrap, topics.group, topics.events, total, timeout=240)
    assert count(client, db) == total
    assert count(client, db, "select uniqExact(event_id) from {db}.events") == total
    assert count(client, db, "select count() from {db}.events final") == total


def test_the_end_of_a_burst_is_stored_without_waiting_out_the_batch_time(
    consumers: ConsumerRunner, topics: Topics, kafka_bootstrap: str, clickhouse_url: str
) -> None:
    # a batch closes when a poll finds the topic quiet: with a batch time of 10 minutes and
    # room for 5,000 messages, 5 events are still stored and committed (before, they waited)
    events = unique_events(5)
    consumers.start(topics, "--role", "events", "--batch-time-ms", "600000")
    produce(kafka_bootstrap, topics.events, list(events))
    wait_committed(kafka_bootstrap, topics.group, topics.events, 5, timeout=90)
    assert count(ch_client(clickhouse_url), consumers.env["MURMUR_CLICKHOUSE_DATABASE"]) == 5
