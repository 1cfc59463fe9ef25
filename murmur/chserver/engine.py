"""The embedded engine: one chdb instance, many independent connections.

chdb 4 hosts a single ClickHouse engine per process, bound to one data directory. Any number
of connections to that directory may coexist; each keeps its own current database, settings
and temporary tables, and queries on different connections run in parallel (the GIL is
released while the engine works). A connection runs one statement at a time.

So the server keeps one *keeper* connection for the engine's lifetime (the engine shuts down
when its last connection closes), gives every HTTP session its own connection, and opens a
throwaway connection (~0.1 ms) for each sessionless request.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import chdb

from murmur.chserver.errors import ChError, from_engine
from murmur.chserver.lexer import Statement

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(slots=True)
class Outcome:
    """Result of one statement: the response body and the counters for the summary."""

    body: bytes
    read_rows: int = 0
    read_bytes: int = 0
    written_rows: int = 0
    written_bytes: int = 0
    elapsed: float = 0.0

    def summary(self) -> dict[str, str]:
        return {
            "read_rows": str(self.read_rows),
            "read_bytes": str(self.read_bytes),
            "written_rows": str(self.written_rows),
            "written_bytes": str(self.written_bytes),
            "total_rows_to_read": str(self.read_rows),
            "result_rows": str(self.written_rows or self.read_rows),
            "result_bytes": str(len(self.body)),
            "elapsed_ns": str(int(self.elapsed * 1e9)),
        }


def sql_string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def sql_identifier(name: str) -> str:
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


class Engine:
    """Owns the chdb data directory for the life of the server."""

    def __init__(self, data_dir: Path, base_settings: Mapping[str, str]) -> None:
        self.data_dir = data_dir.resolve()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.base_settings = dict(base_settings)
        self._lock = threading.Lock()
        self._open: set[Any] = set()
        try:
            self._keeper = chdb.connect(str(self.data_dir))  # type: ignore[no-untyped-call]
        except Exception as exc:
            if "Cannot lock file" in str(exc) or "Code: 76" in str(exc):
                raise RuntimeError(
                    f"data directory {self.data_dir} is in use by another process "
                    "(only one process may open a chdb data directory)"
                ) from exc
            raise
        row = self._keeper.query("SELECT version(), timezone()", "TSV").bytes().decode()
        self.version, self.timezone = row.rstrip("\n").split("\t")
        names = self._keeper.query("SELECT name FROM system.settings", "TSV").bytes().decode()
        self.known_settings = frozenset(names.split())
        self.closed = False

    def connect(self) -> EngineConnection:
        with self._lock:
            if self.closed:
                raise ChError(210, "Server is shutting down", "NETWORK_ERROR")
            raw = chdb.connect(str(self.data_dir))  # type: ignore[no-untyped-call]
            self._open.add(raw)
        return EngineConnection(self, raw)

    def release(self, raw: Any) -> None:
        with self._lock:
            self._open.discard(raw)
        try:
            raw.close()
        except Exception:
            pass

    def close(self) -> None:
        """Close every connection, the keeper last, so the engine shuts down cleanly."""
        with self._lock:
            if self.closed:
                return
            self.closed = True
            leftovers = list(self._open)
            self._open.clear()
        for raw in leftovers:
            try:
                raw.close()
            except Exception:
                pass
        self._keeper.close()


class EngineConnection:
    """One chdb connection plus the session state the HTTP layer must emulate.

    Request settings override session settings for one request only. Rather than undoing
    them after every request, the connection remembers what is applied and changes only the
    difference on the next request, so a client that sends the same settings every time
    (clickhouse-connect does) pays nothing.
    """

    def __init__(self, engine: Engine, raw: Any) -> None:
        self.engine = engine
        self.raw = raw
        self.base: dict[str, str] = {}  # session-level values (SQL text) set with SET
        self.applied: dict[str, str] = {}  # request-level overrides in effect
        self.base_db = "default"
        self.current_db = "default"
        if engine.base_settings:
            self.base = {k: sql_string(v) for k, v in engine.base_settings.items()}
            self._run("SET " + ", ".join(f"{k} = {v}" for k, v in self.base.items()))

    def _run(self, sql: str) -> None:
        try:
            self.raw.query(sql, "TSV")
        except Exception as exc:
            raise from_engine(exc) from None

    def prepare(
        self, settings: Mapping[str, str], database: str | None, inline: bool = False
    ) -> str:
        """Make the connection's settings and database exactly what this request asks.

        Every change (restores of the previous request's overrides, and this request's new
        values) goes to the engine as one ``SET a = …, b = …``: each engine call has a fixed
        cost (about 0.5 ms of server CPU for a SET), and a client that alternates two
        settings sets (the consumer's inserts and its checks) used to pay one call per
        setting per request. A failing SET applies none of its assignments, so ``applied``
        changes only after it succeeded.

        With ``inline`` (a data insert whose head has no SETTINGS clause) this request's new
        values are not set on the connection but returned as ``a = …, b = …`` for the
        insert's own SETTINGS clause: a per-insert setting (a deduplication token) then
        costs no engine call, neither to set nor to restore on the next request.

        Returns:
            The SETTINGS clause body for the statement ("" when nothing is inline).
        """
        assignments: list[str] = []
        restored = [k for k in self.applied if k not in settings]
        for name in restored:
            assignments.append(f"{name} = {self.base.get(name, 'DEFAULT')}")
        changed: dict[str, str] = {}
        for name, value in settings.items():
            if self.applied.get(name) == value:
                continue
            if name not in self.engine.known_settings and not (
                name.startswith("custom_") and _NAME.fullmatch(name)
            ):
                raise ChError(
                    115,
                    f"Setting {name} is neither a builtin setting nor started with the prefix "
                    "'custom_' registered for user-defined settings",
                    "UNKNOWN_SETTING",
                )
            changed[name] = value
        clause = ""
        if inline:
            clause = ", ".join(f"{name} = {sql_string(v)}" for name, v in changed.items())
            changed = {}
        assignments += [f"{name} = {sql_string(v)}" for name, v in changed.items()]
        if assignments:
            # If SET fails the connection keeps its previous values, which `applied` still
            # records, so the next request restores them.
            self._run("SET " + ", ".join(assignments))
            for name in restored:
                del self.applied[name]
            self.applied.update(changed)
        wanted = database or self.base_db
        if wanted != self.current_db:
            self._run(f"USE {sql_identifier(wanted)}")
            self.current_db = wanted
        return clause

    def note(self, st: Statement) -> None:
        """Record the session state a successful statement changed."""
        for name, value in st.assignments:
            self.applied.pop(name, None)
            if value.upper() == "DEFAULT":
                self.base.pop(name, None)
            else:
                self.base[name] = value
        if st.use_database is not None:
            self.base_db = self.current_db = st.use_database

    def query(self, sql: str, fmt: str, params: Mapping[str, str]) -> Outcome:
        try:
            res = self.raw.query(sql, fmt, params=dict(params) if params else None)
        except Exception as exc:
            raise from_engine(exc) from None
        return Outcome(
            body=res.bytes(),
            read_rows=res.rows_read(),
            read_bytes=res.bytes_read(),
            written_rows=res.rows_written(),
            written_bytes=res.bytes_written(),
            elapsed=res.elapsed(),
        )

    def insert(self, head: str, fmt: str, chunks: Iterable[bytes]) -> Outcome:
        """Stream ``chunks`` of format ``fmt`` into ``INSERT INTO t (cols)`` (no FORMAT)."""
        started = time.perf_counter()
        try:
            inserter = self.raw.send_insert(head, fmt)
        except Exception as exc:
            raise from_engine(exc) from None
        try:
            for chunk in chunks:
                if chunk:
                    inserter.append(chunk)
            result = inserter.finish()
        except BaseException as exc:
            try:
                inserter.cancel()
            except Exception:
                pass
            if isinstance(exc, ChError):
                raise
            if isinstance(exc, Exception):
                raise from_engine(exc) from None
            raise
        return Outcome(
            body=b"",
            written_rows=result.rows_written,
            written_bytes=result.bytes_written,
            elapsed=time.perf_counter() - started,
        )

    def close(self) -> None:
        self.engine.release(self.raw)
