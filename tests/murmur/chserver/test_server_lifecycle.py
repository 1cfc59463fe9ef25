"""Process-level behaviour: restart durability, SIGTERM, port conflicts, auth, timeouts."""

from __future__ import annotations

import base64
import http.client
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import unquote, urlencode, urlsplit

import clickhouse_connect
import pytest
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import DatabaseError

from murmur.net import wait_until
from tests.murmur.chserver.conftest import REPO, ping, start_server

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
    data_dir = tmp_path / "d"
    cmd = [sys.executable, "-m", "murmur.chserver", "--data-dir", str(data_dir)]
    cmd += ["--host", "127.0.0.1", "--port", str(parts.port)]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    assert "address already in use" in proc.stderr
    # Fast = it gives up before the expensive part: the engine never opened (or created) its data.
    assert not data_dir.exists()


@contextmanager
def _held_insert(url: str, sql: str) -> Iterator[Callable[[bytes], None]]:
    """A chunked INSERT that stays in flight until the block ends; yields "send one chunk"."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 8123, timeout=60)
    conn.putrequest("POST", "/?" + urlencode({"query": sql}))
    if parts.username:
        token = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
        conn.putheader("Authorization", "Basic " + base64.b64encode(token).decode())
    conn.putheader("Transfer-Encoding", "chunked")
    conn.endheaders()

    def send(chunk: bytes) -> None:
        conn.send(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")

    try:
        yield send
        conn.send(b"0\r\n\r\n")
        resp = conn.getresponse()
        assert resp.status == 200, resp.read()[:500]
        resp.read()
    finally:
        conn.close()


def test_ping_answers_while_a_statement_is_in_flight(
    ch_url: str, make_client: Callable[..., Client], database: str
) -> None:
    # The statement runs until this test ends it, so a /ping that waited for statements could
    # only time out: answering at all proves it did not wait (no clock involved).
    admin = make_client()
    admin.command(f"CREATE TABLE {database}.held (a UInt32) ENGINE MergeTree ORDER BY a")
    in_flight = (
        f"SELECT count() FROM system.processes WHERE query LIKE 'INSERT INTO {database}.held%'"
    )
    with _held_insert(ch_url, f"INSERT INTO {database}.held FORMAT TSV") as send:
        send(b"1\n2\n")
        wait_until(lambda: admin.command(in_flight) == 1, 60, "the held INSERT reaching the engine")
        assert ping(ch_url, timeout=30)
        assert admin.command(in_flight) == 1  # still running: ping did not end or wait for it
        send(b"3\n")
    assert admin.command(in_flight) == 0
    assert admin.command(f"SELECT count(), sum(a) FROM {database}.held") == ["3", "6"]
