"""Executing one HTTP request against the engine, the way ClickHouse's HTTP handler would."""

from __future__ import annotations

import hmac
import json
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field

from murmur.chserver.config import ServerConfig
from murmur.chserver.engine import Engine, EngineConnection, Outcome
from murmur.chserver.errors import ChError
from murmur.chserver.lexer import Statement
from murmur.chserver.logs import JsonLog
from murmur.chserver.request import Request, read_statement
from murmur.chserver.sessions import SessionRegistry

DEFAULT_FORMAT = "TabSeparated"


@dataclass(slots=True)
class Response:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


class App:
    """Everything a request handler needs: engine, sessions, config and the statement log."""

    def __init__(self, config: ServerConfig, engine: Engine, log: JsonLog) -> None:
        self.config = config
        self.engine = engine
        self.sessions = SessionRegistry(engine)
        self.log = log

    def authenticate(self, req: Request) -> None:
        if self.config.user is None:
            return
        ok_user = hmac.compare_digest(req.user.encode(), self.config.user.encode())
        ok_pass = hmac.compare_digest(req.password.encode(), self.config.password.encode())
        if not (ok_user and ok_pass):
            raise ChError(
                516,
                f"{req.user}: Authentication failed: password is incorrect, "
                "or there is no user with such name.",
                "AUTHENTICATION_FAILED",
            )

    def base_headers(self, query_id: str) -> dict[str, str]:
        return {
            "X-ClickHouse-Query-Id": query_id,
            "X-ClickHouse-Timezone": self.engine.timezone,
            "X-ClickHouse-Server-Display-Name": "murmur-chserver",
        }

    def execute(self, req: Request, prefix: bytes, body: Iterator[bytes]) -> Response:
        """Run the statement in ``prefix`` + ``body`` and build the response.

        Raises:
            ChError: for anything ClickHouse would report as an exception.
        """
        query_id = req.reserved.get("query_id") or str(uuid.uuid4())
        started = time.perf_counter()
        session_id = req.reserved.get("session_id") or None
        st: Statement | None = None
        sql_text = ""
        status, error = 200, None
        outcome: Outcome | None = None
        try:
            data, st, _ = read_statement(prefix, body)
            head = data[: st.insert_head_end] if st.data_insert else data
            sql_text = head.decode("utf-8", errors="replace")
            if st.multi:
                raise ChError(62, "Multi-statements are not allowed", "SYNTAX_ERROR")
            with ExitStack() as stack:
                conn = self._connection(req, session_id, stack)
                inline = st.data_insert and not st.insert_settings
                clause = conn.prepare(req.settings, req.reserved.get("database") or None, inline)
                if st.data_insert:
                    if st.format_name is None:  # read_statement sets it for data inserts
                        raise ChError(62, "INSERT with data needs a FORMAT", "SYNTAX_ERROR")
                    # a new line: the head may end in a line comment
                    insert_head = f"{sql_text}\nSETTINGS {clause}" if clause else sql_text
                    outcome = conn.insert(
                        insert_head, st.format_name, _chain(data[st.data_offset :], body)
                    )
                else:
                    fmt = req.reserved.get("default_format") or DEFAULT_FORMAT
                    outcome = conn.query(data.decode("utf-8"), fmt, req.query_params)
                conn.note(st)
            headers = self.base_headers(query_id)
            if st.produces_result:
                headers["X-ClickHouse-Format"] = st.format_name or req.reserved.get(
                    "default_format", DEFAULT_FORMAT
                )
                headers["Content-Type"] = _content_type(headers["X-ClickHouse-Format"])
            else:
                headers["Content-Type"] = "text/plain; charset=UTF-8"
            headers["X-ClickHouse-Summary"] = json.dumps(outcome.summary())
            return Response(200, headers, outcome.body)
        except ChError as exc:
            status, error = exc.http_status, exc
            raise
        except UnicodeDecodeError as exc:
            error = ChError(62, f"Query is not valid UTF-8: {exc}", "SYNTAX_ERROR")
            status = error.http_status
            raise error from None
        finally:
            self.log.event(
                "query",
                query_id=query_id,
                session_id=session_id,
                user=req.user,
                kind=st.keyword if st else None,
                format=st.format_name if st else None,
                status=status,
                error_code=error.code if error else None,
                error=error.message[:500] if error else None,
                elapsed_ms=round((time.perf_counter() - started) * 1000, 3),
                read_rows=outcome.read_rows if outcome else 0,
                written_rows=outcome.written_rows if outcome else 0,
                result_bytes=len(outcome.body) if outcome else 0,
                query=sql_text[:2000],
            )

    def _connection(
        self, req: Request, session_id: str | None, stack: ExitStack
    ) -> EngineConnection:
        if session_id is None:
            conn = self.engine.connect()
            stack.callback(conn.close)
            return conn
        timeout_raw = req.reserved.get("session_timeout")
        try:
            timeout = float(timeout_raw) if timeout_raw else None
        except ValueError as exc:
            raise ChError(
                72, f"Invalid session timeout: '{timeout_raw}'", "CANNOT_PARSE_NUMBER"
            ) from exc
        if _truthy(req.reserved.get("close_session")):
            # Registered first so it runs after the session lock is released.
            stack.callback(self.sessions.close, session_id)
        session, _ = stack.enter_context(
            self.sessions.use(session_id, timeout, _truthy(req.reserved.get("session_check")))
        )
        return session.conn


def _chain(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    if first:
        yield first
    yield from rest


def _content_type(fmt: str) -> str:
    f = fmt.lower()
    if f.startswith("json"):
        return "application/json; charset=UTF-8"
    if f.startswith(("tabseparated", "tsv", "csv", "pretty", "values", "vertical", "markdown")):
        return "text/plain; charset=UTF-8"
    return "application/octet-stream"
