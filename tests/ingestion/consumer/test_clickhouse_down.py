"""ClickHouse goes away under a running consumer: it waits and retries, commits nothing."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from murmur.ingestion_status import group_lag
from murmur.net import free_port, port_open, wait_until
from tests.ingestion.conftest import ConsumerRunner, Topics, produce
from tests.ingestion.consumer.helpers import ch_client, count, unique_events, wait_committed

pytestmark = pytest.mark.integration


class ChServer:
    """A dedicated local ClickHouse server subprocess that the test may stop and restart."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        argv = [sys.executable, "-m", "murmur.chserver", "--data-dir", str(self.data_dir)]
        argv += ["--host", "127.0.0.1", "--port", str(self.port)]
        log = (self.data_dir.parent / "chserver.log").open("ab")
        self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        wait_until(lambda: port_open(self.port), 90, "the dedicated ClickHouse server")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=60)
        self.proc = None


@pytest.fixture
def chserver(tmp_path: Path) -> Iterator[ChServer]:
    server = ChServer(tmp_path / "ch")
    server.start()
    yield server
    server.stop()


def test_consumer_waits_without_committing_while_clickhouse_is_down_and_loses_nothing(
    consumers: ConsumerRunner, topics: Topics, kafka_bootstrap: str, chserver: ChServer
) -> None:
    consumers.env["MURMUR_CLICKHOUSE_URL"] = chserver.url
    db = consumers.env["MURMUR_CLICKHOUSE_DATABASE"]
    first, second = unique_events(300), unique_events(200)
    produce(kafka_bootstrap, topics.events, list(first))
    consumers.start(topics, "--role", "events")
    wait_committed(kafka_bootstrap, topics.group, topics.events, 300, timeout=90)

    chserver.stop()
    produce(kafka_bootstrap, topics.events, list(second))
    wait_until(
        lambda: "cannot store a batch" in consumers.logs(), 60, "the consumer noticing the outage"
    )
    wait_until(lambda: consumers.logs().count("cannot store a batch") >= 3, 60, "several retries")
    # (Tansu's high watermarks lag behind, so only the committed offsets are asserted)
    lag = group_lag(kafka_bootstrap, topics.group, topics.events)
    assert lag.committed == 300, "nothing may be committed while ClickHouse is down"

    chserver.start()
    wait_committed(kafka_bootstrap, topics.group, topics.events, 500, timeout=120)
    client = ch_client(chserver.url)
    assert count(client, db) == 500
    assert count(client, db, "select uniqExact(event_id) from {db}.events") == 500
