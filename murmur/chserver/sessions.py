"""HTTP sessions (``session_id``): one engine connection each, with an idle timeout.

Like ClickHouse, a session serves one request at a time; a concurrent request on a busy
session fails at once with SESSION_IS_LOCKED rather than queueing behind it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from murmur.chserver.config import DEFAULT_SESSION_TIMEOUT, MAX_SESSION_TIMEOUT
from murmur.chserver.engine import Engine, EngineConnection
from murmur.chserver.errors import ChError


@dataclass(slots=True)
class Session:
    session_id: str
    conn: EngineConnection
    timeout: float
    last_used: float = field(default_factory=time.monotonic)
    lock: threading.Lock = field(default_factory=threading.Lock)
    closed: bool = False


class SessionRegistry:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._reaper = threading.Thread(target=self._reap_loop, name="session-reaper", daemon=True)
        self._reaper.start()

    def __len__(self) -> int:
        return len(self._sessions)

    @contextmanager
    def use(
        self, session_id: str, timeout: float | None, check: bool
    ) -> Iterator[tuple[Session, bool]]:
        """Lock the session for one request, creating it unless ``check`` demands it exists.

        Yields:
            The session and whether it was created by this request.
        """
        created = False
        with self._lock:
            session = self._sessions.get(session_id)
            if session is None or session.closed:
                if check:
                    raise ChError(372, f"Session {session_id} not found", "SESSION_NOT_FOUND")
                session = Session(session_id, self._engine.connect(), DEFAULT_SESSION_TIMEOUT)
                self._sessions[session_id] = session
                created = True
            if not session.lock.acquire(blocking=False):
                raise ChError(
                    373,
                    f"Session {session_id} is locked by a concurrent client",
                    "SESSION_IS_LOCKED",
                )
        try:
            if timeout is not None:
                session.timeout = min(max(timeout, 0.0), MAX_SESSION_TIMEOUT)
            yield session, created
        finally:
            session.last_used = time.monotonic()
            session.lock.release()

    def close(self, session_id: str) -> None:
        with self._lock:
            session = self._sessions.pop(session_id, None)
        if session is not None:
            self._close(session)

    def _close(self, session: Session) -> None:
        with session.lock:
            if not session.closed:
                session.closed = True
                session.conn.close()

    def _reap_loop(self) -> None:
        while not self._stop.wait(1.0):
            now = time.monotonic()
            with self._lock:
                expired = [
                    s
                    for s in self._sessions.values()
                    if not s.lock.locked() and now - s.last_used > s.timeout
                ]
                for s in expired:
                    del self._sessions[s.session_id]
            for s in expired:
                self._close(s)

    def close_all(self) -> None:
        self._stop.set()
        with self._lock:
            sessions = list(self._sessions.values())
            self._sessions.clear()
        for s in sessions:
            if s.lock.acquire(timeout=5):
                s.closed = True
                s.conn.close()
                s.lock.release()
