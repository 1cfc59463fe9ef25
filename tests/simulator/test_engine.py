"""The simulator's HTTP client against a real HTTP/1.1 server, and its Maildir scanning."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from murmur.stack.keys import SENDGRID_PRIVATE_KEY, ensure_keys, keys_dir
from simulator.config import Config
from simulator.engine import Simulator
from simulator.http import Client, HttpError
from tests.simulator.test_simulator_units import _message

pytestmark = pytest.mark.integration


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    # Regression: this was a set of `id(self.connection)`, and a closed socket's id can be
    # reused by the next one, so two connections counted as one; one entry per handler instance
    # (the server makes one per accepted connection) counts them whatever ids CPython reuses.
    connections: ClassVar[list[str]] = []
    seen: ClassVar[list[tuple[str, str, bytes, str]]] = []

    def log_message(self, format: str, *args: object) -> None:
        pass

    def setup(self) -> None:
        super().setup()
        type(self).connections.append(self.client_address[0])  # one handler per connection

    def _answer(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if "Transfer-Encoding" not in (headers or {}):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        agent = self.headers.get("User-Agent", "")
        type(self).seen.append(("GET", self.path, b"", agent))
        if self.path.startswith("/redirect"):
            self._answer(302, b"", {"Location": "https://example.com/"})
        elif self.path.startswith("/chunked"):
            chunks = b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
            self._answer(200, chunks, {"Transfer-Encoding": "chunked"})
        elif self.path.startswith("/close"):
            self._answer(200, b"bye", {"Connection": "close"})
            self.close_connection = True
        else:
            self._answer(200, b"pixel")

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).seen.append(("POST", self.path, body, self.headers.get("User-Agent", "")))
        self._answer(200, b'{"accepted": 2}', {"Content-Type": "application/json"})


@pytest.fixture
def server() -> Iterator[str]:
    _Handler.connections = []
    _Handler.seen = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_the_client_keeps_one_connection_alive_and_reads_every_kind_of_answer(server: str) -> None:
    async def go() -> list[tuple[int, bytes]]:
        client = Client(limit=1)
        try:
            out = []
            for path in ("/t/o/a.gif", "/redirect?u=x", "/chunked", "/t/o/b.gif"):
                resp = await client.request("GET", server + path, {"User-Agent": "Mozilla/5.0"})
                out.append((resp.status_code, resp.content))
            resp = await client.request("POST", server + "/hook", {}, b"[1, 2]")
            assert resp.json() == {"accepted": 2}
            return out
        finally:
            await client.aclose()

    answers = asyncio.run(go())
    assert answers == [(200, b"pixel"), (302, b""), (200, b"hello world"), (200, b"pixel")]
    assert len(_Handler.connections) == 1  # five requests, one kept-alive connection
    assert _Handler.seen[1][1] == "/redirect?u=x" and _Handler.seen[0][3] == "Mozilla/5.0"
    assert _Handler.seen[-1][:3] == ("POST", "/hook", b"[1, 2]")


def test_a_closed_connection_is_replaced_and_a_dead_server_is_an_http_error(server: str) -> None:
    async def go() -> None:
        client = Client(limit=2, timeout=5)
        try:
            assert (await client.request("GET", server + "/close", {})).content == b"bye"
            assert (await client.request("GET", server + "/t/o/c.gif", {})).status_code == 200
            with pytest.raises(HttpError, match=r"connect to 127\.0\.0\.1:9"):
                await client.request("GET", "http://127.0.0.1:9/t/o/d.gif", {})
        finally:
            await client.aclose()

    asyncio.run(go())
    assert len(_Handler.connections) == 2


def _simulator(state: Path, server: str) -> Simulator:
    ensure_keys(state)
    config = Config(
        maildir=state / "maildir",
        state_dir=state / "simulator",
        ingestion_url=server,
        sendgrid_key_path=keys_dir(state) / SENDGRID_PRIVATE_KEY,
    )
    sim = Simulator(config)
    sim.load_seen()
    return sim


def test_read_messages_move_to_cur_and_a_restart_does_not_replay_them(
    tmp_path: Path, server: str
) -> None:
    maildir = tmp_path / "maildir"
    for sub in ("new", "cur", "tmp"):
        (maildir / sub).mkdir(parents=True)
    for n in range(3):
        (maildir / "new" / f"100{n}.M1P1Q{n}.host").write_bytes(_message(f"p{n}@gmail.com", n))
    (maildir / "new" / "1009.M1P1Q9.host").write_bytes(b"Subject: not ours\n\nhi\n")
    sim = _simulator(tmp_path, server)
    assert asyncio.run(sim.scan()) == 4
    # Regression: every scan listed every message ever received (20,000 files twice a second
    # kept an idle simulator busy); read ones now leave new/, as a mail reader moves them
    assert sorted(p.name for p in (maildir / "new").iterdir()) == []
    assert sorted(p.name for p in (maildir / "cur").iterdir()) == [
        "1000.M1P1Q0.host:2,S",
        "1001.M1P1Q1.host:2,S",
        "1002.M1P1Q2.host:2,S",
        "1009.M1P1Q9.host:2,S",
    ]
    assert (sim.ledger.messages, sim.ledger.skipped) == (3, 1)
    again = _simulator(tmp_path, server)  # a restart reads seen.txt: cur/ is not replayed
    (maildir / "new" / "1003.M1P1Q3.host").write_bytes(_message("p3@yahoo.com", 3))
    assert asyncio.run(again.scan()) == 1
    assert again.ledger.messages == 1
    assert asyncio.run(again.scan()) == 0
