"""`WebhookHttpProtocol`: uvicorn's httptools protocol, one socket write per webhook answer.

The protocol runs on a transport that records what uvicorn writes (the socket's side of the
boundary), driven by uvicorn's own parser and request cycles; the app is a plain ASGI app that
answers the way `FastWebhooks` and Starlette do (a start message, then the body).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from uvicorn.config import Config
from uvicorn.server import ServerState

from ingestion.receiver.http import WEBHOOKS
from ingestion.receiver.protocol import WebhookHttpProtocol

pytestmark = pytest.mark.unit


class RecordingTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.writes.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 8000), "peername": ("127.0.0.1", 50000)}.get(
            name, default
        )

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Echoes the body; `/chunked` streams two parts, `/empty` answers 204 without a body."""
    assert scope["type"] == "http"
    message = await receive()
    body = message.get("body", b"")
    path = scope["path"]
    if path.endswith("/empty"):
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})
        return
    if path.endswith("/chunked"):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"one,", "more_body": True})
        await send({"type": "http.response.body", "body": b"two"})
        return
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _request(method: str, path: str, body: bytes = b"", close: bool = False) -> bytes:
    head = f"{method} {path} HTTP/1.1\r\nHost: t\r\nContent-Length: {len(body)}\r\n"
    return (head + ("Connection: close\r\n" if close else "") + "\r\n").encode() + body


async def _serve(data: bytes, answers: int) -> RecordingTransport:
    config = Config(app=app, lifespan="off", log_level="warning")
    protocol = WebhookHttpProtocol(config, ServerState(), {})
    transport = RecordingTransport()
    protocol.connection_made(transport)
    protocol.data_received(data)
    for _ in range(200):
        await asyncio.sleep(0)
        if sum(w.startswith(b"HTTP/1.1 ") for w in transport.writes) >= answers:
            break
    await asyncio.sleep(0)
    protocol.connection_lost(None)
    return transport


def test_a_webhook_answer_is_one_write_with_head_and_body() -> None:
    transport = asyncio.run(_serve(_request("POST", f"{WEBHOOKS}/ses", b'{"a":1}'), 1))
    (write,) = transport.writes
    head, _, body = write.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"content-length: 7" in head
    assert body == b'{"a":1}'


def test_pipelined_webhook_posts_are_answered_in_order_one_write_each() -> None:
    data = _request("POST", WEBHOOKS, b"first") + _request("POST", f"{WEBHOOKS}/sns", b"second")
    transport = asyncio.run(_serve(data, 2))
    assert [w.rpartition(b"\r\n\r\n")[2] for w in transport.writes] == [b"first", b"second"]


def test_other_routes_keep_uvicorns_writes() -> None:
    transport = asyncio.run(_serve(_request("POST", "/u/token", b"List-Unsubscribe=One-Click"), 1))
    assert len(transport.writes) == 2  # the head, then the body: uvicorn's own cycle
    assert transport.writes[1] == b"List-Unsubscribe=One-Click"
    transport = asyncio.run(_serve(_request("GET", f"{WEBHOOKS}/ses"), 1))
    assert len(transport.writes) == 2  # not a POST


def test_a_streamed_webhook_answer_sends_the_head_with_its_first_chunk() -> None:
    transport = asyncio.run(_serve(_request("POST", f"{WEBHOOKS}/chunked"), 1))
    first, *rest = transport.writes
    assert first.startswith(b"HTTP/1.1 200 OK\r\n") and b"transfer-encoding: chunked" in first
    assert first.endswith(b"\r\n\r\n4\r\none,\r\n")
    assert b"".join(rest) == b"3\r\ntwo\r\n0\r\n\r\n"


def test_a_webhook_answer_without_body_and_connection_close_still_sends_its_head() -> None:
    transport = asyncio.run(_serve(_request("POST", f"{WEBHOOKS}/empty", close=True), 1))
    (write,) = [w for w in transport.writes if w]
    assert write.startswith(b"HTTP/1.1 204 No Content\r\n") and write.endswith(b"\r\n\r\n")
    assert transport.closed
