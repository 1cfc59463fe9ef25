"""Request parsing: URL parameters, credentials, the (chunked) body, and the SQL prefix."""

from __future__ import annotations

import base64
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from typing import Protocol
from urllib.parse import parse_qsl

from murmur.chserver.config import HTTP_ONLY_SETTINGS, MAX_QUERY_SIZE, RESERVED_PARAMS
from murmur.chserver.errors import ChError
from murmur.chserver.lexer import Statement, classify

_READ_SIZE = 1 << 20


@dataclass(slots=True)
class Request:
    """One HTTP request split the way ClickHouse's HTTP handler splits it."""

    reserved: dict[str, str] = field(default_factory=dict)
    settings: dict[str, str] = field(default_factory=dict)
    http_settings: dict[str, str] = field(default_factory=dict)
    query_params: dict[str, str] = field(default_factory=dict)
    user: str = "default"
    password: str = ""


def split_params(pairs: list[tuple[str, str]], headers: Mapping[str, str]) -> Request:
    """Split URL (or form) parameters; ``headers`` keys must be lower-case."""
    req = Request()
    for key, value in pairs:
        if key.startswith("param_"):
            req.query_params[key[6:]] = value
        elif key in RESERVED_PARAMS:
            req.reserved[key] = value
        elif key in HTTP_ONLY_SETTINGS:
            req.http_settings[key] = value
        else:
            req.settings[key] = value
    auth = headers.get("authorization") or ""
    if auth.lower().startswith("basic "):
        try:
            user, _, password = base64.b64decode(auth[6:].strip()).decode().partition(":")
        except ValueError as exc:
            raise ChError(516, "Malformed Basic authorization header") from exc
        req.user, req.password = user or "default", password
    req.user = headers.get("x-clickhouse-user") or req.reserved.get("user") or req.user
    req.password = headers.get("x-clickhouse-key") or req.reserved.get("password") or req.password
    if "database" not in req.reserved and headers.get("x-clickhouse-database"):
        req.reserved["database"] = headers["x-clickhouse-database"]
    if "default_format" not in req.reserved and headers.get("x-clickhouse-format"):
        req.reserved["default_format"] = headers["x-clickhouse-format"]
    return req


class Readable(Protocol):
    def read(self, size: int = ..., /) -> bytes: ...

    def readline(self, size: int = ..., /) -> bytes: ...


class BodyReader:
    """Iterate over a request body (Content-Length or chunked) without buffering it."""

    def __init__(self, rfile: Readable, headers: Mapping[str, str], limit: int) -> None:
        self._rfile = rfile
        self._limit = limit
        self._chunked = "chunked" in (headers.get("transfer-encoding") or "").lower()
        length = (headers.get("content-length") or "0").strip()
        if not self._chunked and not length.isdigit():
            raise ChError(
                27, f"Cannot parse Content-Length header {length[:40]!r}", "CANNOT_PARSE_INPUT"
            )
        self._remaining = 0 if self._chunked else int(length)
        if self._remaining > limit:
            raise ChError(307, f"Request body of {self._remaining} bytes exceeds {limit} bytes")
        self.done = not self._chunked and self._remaining == 0
        self.total = 0

    def __iter__(self) -> Iterator[bytes]:
        if self._chunked:
            yield from self._chunks()
        else:
            while self._remaining:
                data = self._rfile.read(min(self._remaining, _READ_SIZE))
                if not data:
                    raise ChError(210, "Client closed the connection mid-body", "NETWORK_ERROR")
                self._remaining -= len(data)
                self.total += len(data)
                yield data
        self.done = True

    def _chunks(self) -> Iterator[bytes]:
        while True:
            line = self._rfile.readline(1024)
            if not line:
                raise ChError(210, "Client closed the connection mid-body", "NETWORK_ERROR")
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError as exc:
                raise ChError(210, "Malformed chunked body", "NETWORK_ERROR") from exc
            if size == 0:
                while self._rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass
                return
            self.total += size
            if self.total > self._limit:
                raise ChError(307, f"Request body exceeds {self._limit} bytes")
            data = self._rfile.read(size)
            if len(data) < size:
                raise ChError(210, "Client closed the connection mid-body", "NETWORK_ERROR")
            self._rfile.readline(16)
            yield data

    def drain(self) -> None:
        for _ in self:
            pass


def parse_multipart(content_type: str, body: bytes, req: Request) -> bytes:
    """Apply form fields (``query``, ``param_*``, settings) and return the query text."""
    msg = BytesParser(policy=HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
    )
    query = b""
    fields: list[tuple[str, str]] = []
    for part in msg.iter_parts() if msg.is_multipart() else []:
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        if part.get_filename():
            raise ChError(1, "External data tables are not supported", "UNSUPPORTED_METHOD")
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        if name == "query":
            query = data
        else:
            fields.append((name, data.decode()))
    extra = split_params(fields, {})
    req.query_params.update(extra.query_params)
    req.settings.update(extra.settings)
    req.http_settings.update(extra.http_settings)
    req.reserved.update(extra.reserved)
    return query


def read_statement(prefix: bytes, body: Iterator[bytes]) -> tuple[bytes, Statement, bool]:
    """Read just enough of the body to classify the statement.

    The SQL is the ``query`` parameter, a newline, then the body. For ``INSERT ... FORMAT X``
    reading stops as soon as the format name is known; the rest of the body is the data.

    Returns:
        The bytes read so far (SQL, then possibly the start of the data), the classification,
        and whether the body is exhausted.
    """
    buf = bytearray(prefix)
    exhausted = False
    while True:
        st = classify(buf.decode("latin-1"), complete=exhausted)
        if not st.incomplete:
            if st.data_insert:
                return bytes(buf), st, exhausted
            break
        if exhausted:
            break
        chunk = next(body, None)
        if chunk is None:
            exhausted = True
        else:
            buf += chunk
            if len(buf) > MAX_QUERY_SIZE and st.keyword == "INSERT":
                raise ChError(62, f"Max query size exceeded ({MAX_QUERY_SIZE} bytes)")
    if exhausted:
        return bytes(buf), st, True
    for chunk in body:
        buf += chunk
    return bytes(buf), classify(buf.decode("latin-1")), True


def parse_query_string(raw: str) -> list[tuple[str, str]]:
    return parse_qsl(raw, keep_blank_values=True)
