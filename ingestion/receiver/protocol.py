"""uvicorn's httptools protocol, answering webhook POSTs with one socket write instead of two.

uvicorn writes a response's status line and headers when the app sends `http.response.start`
and the body on `http.response.body`: two writes, two TCP segments, two wake-ups of the client
per answer. On single-event SNS posts (thousands a second) the second write cost about a
sixteenth of the receiver's CPU. For webhook POSTs only, this protocol holds the head until the
first body message and writes both at once; everything else (parsing, keep-alive, pipelining,
flow control, the headers uvicorn checks and adds, every other route) is uvicorn's own code.
"""

from __future__ import annotations

from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

from ingestion.receiver.http import WEBHOOKS


class _Held:
    """A transport stand-in for uvicorn's head write: keeps the bytes instead of sending them."""

    __slots__ = ("data",)

    def __init__(self) -> None:
        self.data = b""

    def write(self, data: bytes) -> None:
        self.data += data


class _Prefixed:
    """A transport stand-in for the first body write: sends the held head with it."""

    __slots__ = ("head", "transport")

    def __init__(self, transport: Any, head: bytes) -> None:
        self.transport = transport
        self.head = head

    def write(self, data: bytes) -> None:
        head, self.head = self.head, b""
        self.transport.write(head + data)

    def close(self) -> None:
        if self.head:  # nothing was written yet (no body): the head still goes first
            self.transport.write(self.head)
            self.head = b""
        self.transport.close()


class _OneWriteCycle(RequestResponseCycle):
    """uvicorn's request/response cycle; the response head waits for the first body bytes."""

    _head: bytes | None = None

    async def send(self, message: Any) -> None:
        kind = message["type"]
        if kind == "http.response.start" and not self.response_started:
            real = self.transport
            held = self.transport = _Held()  # type: ignore[assignment]
            try:
                await super().send(message)  # uvicorn's checks and headers, written to `held`
            finally:
                self.transport = real
            if held.data:
                self._head = held.data
            return
        head = self._head
        if head is None or kind != "http.response.body":
            await super().send(message)
            return
        self._head = None
        real = self.transport
        shim = self.transport = _Prefixed(real, head)  # type: ignore[assignment]
        try:
            await super().send(message)
        finally:
            self.transport = real
            if shim.head and not real.is_closing():  # uvicorn wrote no body bytes (HEAD)
                real.write(shim.head)


class WebhookHttpProtocol(HttpToolsProtocol):
    """`http=` for uvicorn: its httptools protocol, one write per answer on webhook POSTs."""

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        cycle = self.cycle
        scope = self.scope
        if (
            type(cycle) is RequestResponseCycle
            and cycle.scope is scope  # this request's cycle (not one left by an upgrade)
            and scope["method"] == "POST"
            and scope["path"].startswith(WEBHOOKS)
            and not cycle.response_started
        ):
            # the cycle's task has not run yet: from its first step it sends through ours
            cycle.__class__ = _OneWriteCycle
