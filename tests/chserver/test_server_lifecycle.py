"""Process-level behaviour: restart durability, SIGTERM, port conflicts, auth, timeouts."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import clickhouse_connect
import pytest
from clickhouse_connect.driver.exceptions import DatabaseError

from tests.chserver.conftest import REPO, ping, start_server

pytestmark = pytest.mark.integration


def _client(url: str, **kwargs: object) -> clickhouse_connect.driver.client.Client:
    parts = urlsplit(url)
    return clickhouse_connect.get_client(host=parts.hostname, port=parts.port, **kwargs)


def test_data_survives_a_sigterm_restart_and_auth_and_timeout_apply(tmp_path: Path) -> None:
    data = tmp_path / "data"
    creds = ["--user", "murmur", "--password", "s3cret", "--query-timeout", "1"]
    server = start_server(data, tmp_path / "a.log", *creds)
    try:
        with pytest.raises(DatabaseError) as denied:
            _client(server.url, username="murmur", password="wrong")
        assert denied.value.code == 516
        c = _client(server.url, username="murmur", password="s3cret")
        c.command("CREATE DATABASE keep")
        c.command("CREATE TABLE keep.t (a UInt64) ENGINE MergeTree ORDER BY a")
        c.insert("keep.t", [[i] for i in range(1000)], column_names=["a"])
        with pytest.raises(DatabaseError) as slow:
            c.command("SELECT sleep(2)")
        assert slow.value.code == 159
        c.close()
    finally:
        assert server.stop() == 0
    assert '"event": "stopped", "clean": true' in (tmp_path / "a.log").read_text()
    again = start_server(data, tmp_path / "b.log", *creds)
    try:
        c = _client(again.url, username="murmur", password="s3cret")
        assert c.command("SELECT count(), sum(a) FROM keep.t") == ["1000", str(sum(range(1000)))]
        c.close()
    finally:
        assert again.stop() == 0


def test_a_taken_port_fails_fast_with_a_clear_message(ch_url: str, tmp_path: Path) -> None:
    parts = urlsplit(ch_url)
    if parts.hostname not in ("127.0.0.1", "localhost"):
        pytest.skip("needs a local listener to collide with")
    cmd = [sys.executable, "-m", "murmur.chserver", "--data-dir", str(tmp_path / "d")]
    cmd += ["--host", "127.0.0.1", "--port", str(parts.port)]
    started = time.monotonic()
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert "address already in use" in proc.stderr
    assert time.monotonic() - started < 30


def test_ping_answers_while_a_long_query_runs(ch_url: str) -> None:
    c = _client(ch_url, autogenerate_session_id=False)
    worker = threading.Thread(target=c.command, args=("SELECT sleep(2)",))
    worker.start()
    time.sleep(0.3)
    started = time.monotonic()
    assert ping(ch_url, timeout=2)
    assert time.monotonic() - started < 0.5
    assert worker.is_alive()
    worker.join()
