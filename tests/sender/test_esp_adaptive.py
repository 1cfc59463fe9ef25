"""Adaptive throttling: the sink defers Gmail recipients → deferral events reach ClickHouse through
Kafka and the real consumer → the Gmail rate halves for every worker; clean sends recover it."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import clickhouse_connect
import pytest
import sqlalchemy as sa

from murmur.clickhouse import parse_url
from murmur.kafka import ensure_topics
from murmur.net import wait_until
from sender.events import KafkaEventSink
from tests.murmur.conftest import MakeAccount
from tests.sender.esp_helpers import Sink, esp_manager, esp_settings, make_esp_campaign, sink

__all__ = ["sink"]
pytestmark = [pytest.mark.integration, pytest.mark.slow]
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def landed(
    kafka_bootstrap: str, clickhouse_url: str, migrated_db_url: str, tmp_path: Path
) -> Iterator[tuple[str, str]]:
    """(topic, ClickHouse database): a `python -m ingestion consume` lands the topic there."""
    topic = f"test-{uuid.uuid4().hex[:12]}"
    database = f"t_{uuid.uuid4().hex[:12]}"
    ensure_topics(kafka_bootstrap, [topic, f"{topic}-dlq"])
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("MURMUR_")},
        "PYTHONPATH": str(REPO),
        "MURMUR_STATE_DIR": str(tmp_path / "consumer-state"),
        "MURMUR_POSTGRES_URL": migrated_db_url,
        "MURMUR_CLICKHOUSE_URL": clickhouse_url,
        "MURMUR_CLICKHOUSE_DATABASE": database,
        "MURMUR_KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "MURMUR_CONSUMER_SESSION_TIMEOUT_MS": "2000",
        "MURMUR_CONSUMER_HEARTBEAT_INTERVAL_MS": "300",
        "MURMUR_CONSUMER_BATCH_TIME_MS": "200",
    }
    argv = [sys.executable, "-m", "ingestion", "consume", "--topic", topic]
    argv += ["--dlq-topic", f"{topic}-dlq", "--group", f"g-{topic}"]
    argv += ["--feedback-group", f"g-{topic}-fb"]
    log = (tmp_path / "consumer.log").open("wb")
    proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
    yield topic, database
    proc.kill()
    proc.wait(timeout=30)


def _count(clickhouse_url: str, database: str, campaign_id: int, kind: str) -> int:
    t = parse_url(clickhouse_url)
    client = clickhouse_connect.get_client(**t.client_kwargs())
    try:
        return int(
            client.query(
                f"select count() from `{database}`.events"
                f" where campaign_id = {int(campaign_id)} and type = '{kind}'"
            ).result_rows[0][0]
        )
    finally:
        client.close()


def test_gmail_deferrals_halve_the_gmail_rate_and_clean_sends_recover_it_step_by_step(
    db_engine: sa.Engine,
    migrated_db_url: str,
    make_account: MakeAccount,
    sink: tuple[Sink, str],
    landed: tuple[str, str],
    kafka_bootstrap: str,
    clickhouse_url: str,
    tmp_path: Path,
) -> None:
    handler, url = sink
    topic, database = landed
    lock = threading.Lock()
    left = {"gmail": 40}

    def defer(rcpt: str) -> bool:
        with lock:
            if rcpt.endswith("@gmail.com") and left["gmail"] > 0:
                left["gmail"] -= 1
                return True
        return False

    handler.defer = defer
    domain = f"{uuid.uuid4().hex[:8]}.example"
    account_id, _ = make_account(default_from_email=f"news@{domain}")
    settings = esp_settings(
        migrated_db_url,
        url,
        str(tmp_path),
        provider_rate_limits="gmail=40,yahoo=40",
        clickhouse_url=clickhouse_url,
        clickhouse_database=database,
        adaptive_interval_seconds=1,
        adaptive_min_events=10,
        adaptive_threshold=0.2,
        adaptive_step=0.25,
    )
    events = KafkaEventSink(kafka_bootstrap, topic=topic)
    manager, router = esp_manager(db_engine, settings, events=events)
    adaptive = router.adaptive
    assert adaptive is not None
    gmail = [f"a{i}@gmail.com" for i in range(30)]
    yahoo = [f"a{i}@yahoo.com" for i in range(20)]
    first = make_esp_campaign(db_engine, account_id, domain, gmail + yahoo)
    assert manager.run(first.campaign_id).sent == 50
    assert handler.deferred == 40  # the sink deferred Gmail, and every message got through

    def halved() -> bool:
        adaptive.maybe_evaluate()
        return any(c.provider == "gmail" for c in adaptive.changes)

    wait_until(
        lambda: _count(clickhouse_url, database, first.campaign_id, "deferral") == 40,
        90,
        "deferral events in ClickHouse",
        interval=0.5,
    )
    wait_until(halved, 60, "the Gmail rate to be lowered", interval=0.5)
    change = adaptive.changes[0]
    assert change.provider == "gmail" and change.old_factor == 1.0 and change.new_factor == 0.5
    assert change.old_rate == 40 and change.new_rate == 20
    assert change.reason.startswith("halved:") and "deferrals" in change.reason
    assert all(c.provider == "gmail" for c in adaptive.changes)  # Yahoo was never deferred
    with db_engine.connect() as conn:
        logged = conn.execute(
            sa.text(
                "select bucket, old_factor, new_factor, reason from rate_limit_changes"
                " order by change_id"
            )
        ).all()
        shared = conn.execute(
            sa.text("select factor from rate_buckets where bucket = 'provider:gmail'")
        ).scalar_one()
    assert logged[0][:3] == ("provider:gmail", 1.0, 0.5) and logged[0][3] == change.reason
    assert shared == adaptive.changes[-1].new_factor <= 0.5  # every worker leases at this rate
    meta = router.metadata()
    assert meta["adaptive_changes"][0]["new_rate"] == 20

    # clean sends after the change: the rate recovers by one step, not all at once
    lowest = shared
    second = make_esp_campaign(
        db_engine, account_id, domain, [f"b{i}@gmail.com" for i in range(30)]
    )
    assert manager.run(second.campaign_id).sent == 30
    assert handler.deferred == 40
    assert router.limiter is not None
    assert router.limiter.effective_rate("provider:gmail") == 40 * lowest  # sent at the low rate

    def recovered() -> bool:
        adaptive.maybe_evaluate()
        return adaptive.changes[-1].reason.startswith("recovering:")

    wait_until(recovered, 90, "the Gmail rate to recover a step", interval=0.5)
    step = adaptive.changes[-1]
    assert step.old_factor == lowest and step.new_factor == lowest + 0.25
    router.close()
