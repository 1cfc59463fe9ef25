"""The HTTP request handler: routing, auth, body decoding, response framing."""

from __future__ import annotations

import socket
import threading
import uuid
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from murmur.chserver.app import App, Response
from murmur.chserver.compression import compress, decode_stream, pick_response_encoding
from murmur.chserver.errors import ChError
from murmur.chserver.request import (
    BodyReader,
    Request,
    parse_multipart,
    parse_query_string,
    split_params,
)

_INLINE_BODY = 256 * 1024


class ChHTTPServer(ThreadingHTTPServer):
    """Thread per connection; tracks in-flight requests and sockets for a clean shutdown."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128
    app: App

    def __init__(self, address: tuple[str, int]) -> None:
        super().__init__(address, Handler)
        self.closing = False
        self._inflight = 0
        self._cond = threading.Condition()
        self._sockets: set[socket.socket] = set()

    def track(self, sock: socket.socket, add: bool) -> None:
        with self._cond:
            if add:
                self._sockets.add(sock)
            else:
                self._sockets.discard(sock)

    def begin_request(self) -> bool:
        with self._cond:
            if self.closing:
                return False
            self._inflight += 1
            return True

    def end_request(self) -> None:
        with self._cond:
            self._inflight -= 1
            self._cond.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        with self._cond:
            self.closing = True
            return self._cond.wait_for(lambda: self._inflight == 0, timeout)

    def disconnect_all(self) -> None:
        with self._cond:
            socks = list(self._sockets)
        for sock in socks:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: ChHTTPServer
    timeout = 600  # idle keep-alive / stalled body

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.track(self.connection, True)

    def finish(self) -> None:
        self.server.track(self.connection, False)
        super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        """Silenced: every statement is logged as JSON by the app instead."""

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        url = urlsplit(self.path)
        if url.path == "/ping" or (
            url.path in ("", "/") and self.command == "GET" and "query=" not in url.query
        ):
            self._send(Response(200, {"Content-Type": "text/html; charset=UTF-8"}, b"Ok.\n"))
            return
        if url.path not in ("", "/"):
            self.close_connection = True
            body = f"There is no handle {url.path}\n".encode()
            self._send(Response(404, {"Content-Type": "text/plain; charset=UTF-8"}, body))
            return
        if not self.server.begin_request():
            self.close_connection = True
            self._send_error(ChError(210, "Server is shutting down", "NETWORK_ERROR"), {})
            return
        try:
            self._query(url.query)
        finally:
            self.server.end_request()

    def _query(self, query_string: str) -> None:
        app = self.server.app
        body: BodyReader | None = None
        req = Request()
        try:
            headers = {k.lower(): v for k, v in self.headers.items()}
            req = split_params(parse_query_string(query_string), headers)
            req.reserved.setdefault("query_id", str(uuid.uuid4()))
            app.authenticate(req)
            limit = app.config.max_body_bytes
            body = BodyReader(self.rfile, headers, limit)
            if req.reserved.get("decompress", "0") not in ("", "0", "false"):
                raise ChError(1, "decompress=1 (native block compression) is not supported")
            stream = decode_stream(body, headers.get("content-encoding"), limit)
            prefix = req.reserved.get("query", "").encode()
            ctype = headers.get("content-type") or ""
            if ctype.lower().startswith("multipart/form-data"):
                form_query = parse_multipart(ctype, b"".join(stream), req)
                prefix = b"\n".join(p for p in (prefix, form_query) if p)
                stream = iter([])
            if prefix:
                prefix += b"\n"
            resp = app.execute(req, prefix, iter(stream))
        except ChError as exc:
            if body is None or not body.done:
                self.close_connection = True
            self._send_error(exc, app.base_headers(req.reserved.get("query_id", "")))
            return
        except Exception as exc:
            self.close_connection = True
            app.log.event("internal_error", error=repr(exc))
            self._send_error(ChError(1001, f"Internal server error: {exc!r}"), {})
            return
        if body is not None and not body.done:
            self.close_connection = True
        self._maybe_compress(resp, req)
        self._send(resp)

    def _maybe_compress(self, resp: Response, req: Request) -> None:
        if not resp.body or req.http_settings.get("enable_http_compression") not in ("1", "true"):
            return
        encoding = pick_response_encoding(self.headers.get("Accept-Encoding"))
        if encoding is None:
            return
        level_raw = req.http_settings.get("http_zlib_compression_level")
        level = int(level_raw) if level_raw and level_raw.isdigit() else None
        resp.body = compress(resp.body, encoding, level)
        resp.headers["Content-Encoding"] = encoding

    def _send_error(self, exc: ChError, headers: dict[str, str]) -> None:
        version = self.server.app.engine.version if hasattr(self.server, "app") else ""
        headers = dict(headers)
        headers["X-ClickHouse-Exception-Code"] = str(exc.code)
        headers["Content-Type"] = "text/plain; charset=UTF-8"
        self._send(Response(exc.http_status, headers, exc.body(version)))

    def _send(self, resp: Response) -> None:
        lines = [f"{self.protocol_version} {resp.status} {HTTPStatus(resp.status).phrase}"]
        lines += [f"{name}: {value}" for name, value in resp.headers.items()]
        lines.append(f"Content-Length: {len(resp.body)}")
        if self.close_connection:
            lines.append("Connection: close")
        else:
            lines += ["Connection: Keep-Alive", "Keep-Alive: timeout=30"]
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace")
        try:
            if len(resp.body) <= _INLINE_BODY:
                # One write for headers and body: no Nagle/delayed-ACK stall on small replies.
                self.wfile.write(head + resp.body)
            else:
                self.wfile.write(head)
                self.wfile.write(resp.body)
        except OSError:
            self.close_connection = True
