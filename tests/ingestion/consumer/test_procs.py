"""`consume --procs N`: the events role in N processes of one group, stopped and killed whole."""

from __future__ import annotations

import signal
import subprocess
import sys

import psutil
import pytest
from confluent_kafka import Consumer, TopicPartition

from murmur.kafka import DEFAULT_PARTITIONS, consumer_config
from murmur.net import wait_until
from tests.ingestion.conftest import REPO, ConsumerRunner, Topics, produce
from tests.ingestion.consumer.helpers import (
    ch_client,
    count,
    unique_events,
    wait_committed,
)

pytestmark = pytest.mark.integration


def _children(proc: subprocess.Popen[bytes]) -> list[psutil.Process]:
    children: list[psutil.Process] = psutil.Process(proc.pid).children()
    return children


def _committed_partitions(bootstrap: str, topics: Topics) -> int:
    """How many partitions of the events topic the group committed an offset on."""
    reader = Consumer(consumer_config(bootstrap, topics.group))
    try:
        meta = reader.list_topics(topics.events, timeout=5).topics[topics.events]
        parts = [TopicPartition(topics.events, p) for p in meta.partitions]
        return sum(tp.offset > 0 for tp in reader.committed(parts, timeout=5))
    finally:
        reader.close()


def _gone(procs: list[psutil.Process]) -> bool:
    """Every process exited (a zombie nobody reaped yet counts as exited)."""
    for p in procs:
        try:
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                return False
        except psutil.NoSuchProcess:
            continue
    return True


@pytest.mark.slow
def test_procs_share_the_partitions_and_store_every_event_once(
    consumers: ConsumerRunner, topics: Topics, kafka_bootstrap: str, clickhouse_url: str
) -> None:
    total = 6000
    produce(kafka_bootstrap, topics.events, list(unique_events(total)))
    proc = consumers.start(topics, "--role", "events", "--procs", "2", "--batch-size", "500")
    wait_committed(kafka_bootstrap, topics.group, topics.events, total, timeout=180)

    db = consumers.env["MURMUR_CLICKHOUSE_DATABASE"]
    client = ch_client(clickhouse_url)
    assert count(client, db) == total
    assert count(client, db, "select uniqExact(event_id) from {db}.events") == total
    assert consumers.logs().count(f"group {topics.group} reading") == 2
    children = _children(proc)
    assert len(children) == 1
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 0  # 1 if a child had failed to stop cleanly
    assert _gone(children)


@pytest.mark.slow
def test_sigkill_of_the_parent_stops_its_children_and_a_restart_stores_exactly_once(
    consumers: ConsumerRunner, topics: Topics, kafka_bootstrap: str, clickhouse_url: str
) -> None:
    total = 60_000  # the consumer stores ≈ 20k events/s now: 20k could all land before the kill
    produce(kafka_bootstrap, topics.events, list(unique_events(total)))
    db = consumers.env["MURMUR_CLICKHOUSE_DATABASE"]
    client = ch_client(clickhouse_url)
    proc = consumers.start(topics, "--role", "events", "--procs", "2", "--batch-size", "500")
    wait_until(lambda: len(_children(proc)) == 1, 30, "the child consumer")
    children = _children(proc)
    # both processes at work: every partition has a commit (each process owns two of four)
    wait_until(
        lambda: _committed_partitions(kafka_bootstrap, topics) == DEFAULT_PARTITIONS,
        120,
        "commits on every partition",
    )
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    wait_until(lambda: _gone(children), 30, "the child stopping after its parent was killed")
    assert count(client, db) < total, "the consumers finished before the kill; raise `total`"

    consumers.start(topics, "--role", "events", "--procs", "2", "--batch-size", "2000")
    wait_committed(kafka_bootstrap, topics.group, topics.events, total, timeout=240)
    assert count(client, db) == total
    assert count(client, db, "select uniqExact(event_id) from {db}.events") == total


def test_procs_need_the_events_role(consumer_env: dict[str, str]) -> None:
    argv = [sys.executable, "-m", "ingestion", "consume", "--role", "feedback", "--procs", "2"]
    done = subprocess.run(
        argv, env=consumer_env, capture_output=True, text=True, timeout=60, cwd=REPO
    )
    assert done.returncode == 2
    assert "--procs applies to the events role" in done.stderr
