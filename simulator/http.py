"""A small HTTP/1.1 client on asyncio streams, with keep-alive connections, for plain http://.

The simulator makes one request per open, click and unsubscribe (about 10,000 in a 20,000-mail
demo) to the local receiver. httpx spent most of the simulator's CPU on them: its connection
pool and anyio layers, and a failed `import sniffio` on every request when sniffio is not
installed (a search of `sys.path` each time). This client writes the request line and headers,
reads the status line, the headers and a `Content-Length` or chunked body, and keeps the
connection for the next request unless the server closes it. https:// URLs go through httpx.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx

MAX_HEAD = 64 * 1024  # bytes of status line and headers
MAX_BODY = 16 * 1024 * 1024
Conn = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class HttpError(Exception):
    """The request did not get a response (connection, timeout, malformed answer)."""


_FAILURES = (OSError, EOFError, ValueError, TimeoutError, asyncio.LimitOverrunError, HttpError)


@dataclass
class Response:
    status_code: int
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names
    content: bytes = b""

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        return json.loads(self.content)


def _head(method: str, target: str, host: str, headers: dict[str, str], size: int) -> bytes:
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    if size or method not in ("GET", "HEAD"):
        lines.append(f"Content-Length: {size}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


async def _read_head(reader: asyncio.StreamReader) -> tuple[int, dict[str, str]]:
    raw = await reader.readuntil(b"\r\n\r\n")
    if len(raw) > MAX_HEAD:
        raise HttpError(f"response head of {len(raw)} bytes")
    status_line, *lines = raw.decode("latin-1").split("\r\n")
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        raise HttpError(f"not an HTTP/1.x status line: {status_line[:80]!r}")
    headers: dict[str, str] = {}
    for line in lines:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return int(parts[1]), headers


async def _read_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes:
    if "chunked" in headers.get("transfer-encoding", "").lower():
        chunks: list[bytes] = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0].strip(), 16)
            if size == 0:
                await reader.readuntil(b"\r\n")  # no trailers from our servers
                return b"".join(chunks)
            chunks.append(await reader.readexactly(size))
            await reader.readexactly(2)
    length = int(headers.get("content-length", "0"))
    if not 0 <= length <= MAX_BODY:
        raise HttpError(f"response body of {length} bytes")
    return await reader.readexactly(length) if length else b""


class Client:
    """Keep-alive connections per (host, port), at most `limit` in flight in total."""

    def __init__(self, limit: int, timeout: float = 30.0) -> None:
        self.timeout = timeout
        self.limit = asyncio.Semaphore(limit)
        self.idle: dict[tuple[str, int], list[Conn]] = {}
        self.fallback: httpx.AsyncClient | None = None

    async def request(
        self, method: str, url: str, headers: dict[str, str], content: bytes = b""
    ) -> Response:
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            return await self._httpx(method, url, headers, content)
        host, port = parts.hostname, parts.port or 80
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        head = _head(method, target, parts.netloc, headers, len(content))
        async with self.limit:
            for attempt in (1, 2):
                conn, reused = self._take(host, port), True
                if conn is None:
                    conn, reused = await self._connect(host, port), False
                try:
                    response = await asyncio.wait_for(
                        self._exchange(conn, head + content), self.timeout
                    )
                except _FAILURES as exc:
                    conn[1].close()
                    if reused and attempt == 1 and not isinstance(exc, TimeoutError):
                        continue  # a kept connection the server had closed: once on a new one
                    raise HttpError(f"{method} {url[:120]}: {type(exc).__name__}: {exc}") from exc
                if response.headers.get("connection", "").lower() == "close":
                    conn[1].close()
                else:
                    self.idle.setdefault((host, port), []).append(conn)
                return response
        raise AssertionError("unreachable")  # pragma: no cover

    def _take(self, host: str, port: int) -> Conn | None:
        pool = self.idle.get((host, port))
        while pool:
            conn = pool.pop()
            if not conn[0].at_eof() and not conn[1].is_closing():
                return conn
            conn[1].close()
        return None

    async def _connect(self, host: str, port: int) -> Conn:
        try:
            return await asyncio.wait_for(asyncio.open_connection(host, port), self.timeout)
        except (OSError, TimeoutError) as exc:
            raise HttpError(f"connect to {host}:{port}: {type(exc).__name__}: {exc}") from exc

    async def _exchange(self, conn: Conn, data: bytes) -> Response:
        reader, writer = conn
        writer.write(data)
        await writer.drain()
        status, headers = await _read_head(reader)
        return Response(status, headers, await _read_body(reader, headers))

    async def _httpx(
        self, method: str, url: str, headers: dict[str, str], content: bytes
    ) -> Response:
        if self.fallback is None:
            self.fallback = httpx.AsyncClient(timeout=self.timeout)
        async with self.limit:
            try:
                resp = await self.fallback.request(method, url, headers=headers, content=content)
            except httpx.HTTPError as exc:
                raise HttpError(f"{method} {url[:120]}: {type(exc).__name__}: {exc}") from exc
        return Response(resp.status_code, dict(resp.headers), resp.content)

    async def aclose(self) -> None:
        for pool in self.idle.values():
            for _, writer in pool:
                writer.close()
        self.idle.clear()
        if self.fallback is not None:
            await self.fallback.aclose()
