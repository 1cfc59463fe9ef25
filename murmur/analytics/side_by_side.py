"""Two independent ClickHouse statements at once, when the client allows it.

A client without a session (`autogenerate_session_id=False`) may run statements side by side
(each request gets its own server connection); a session runs one statement at a time, so
there they run one after the other. Used by the segment membership writer
(murmur.analytics.segments) for statements that neither read what the other writes.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

from clickhouse_connect.driver.client import Client


@dataclass(frozen=True)
class Statement:
    """A statement with its bound parameters and settings."""

    sql: str
    parameters: dict[str, Any]
    settings: dict[str, Any] | None = None


_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def writes_side_by_side(client: Client) -> bool:
    """Whether `client` may run statements side by side (a session runs one at a time)."""
    try:
        return client.get_client_setting("session_id") is None
    except Exception:  # an unusual client: run one statement at a time
        return False


def run_both(
    client: Client, side_by_side: bool, first: Statement, second: Statement
) -> tuple[Any, Any]:
    """Run two independent statements (together when `side_by_side`); both finish or raise."""

    def run(st: Statement) -> Any:
        return client.command(st.sql, parameters=st.parameters, settings=st.settings)

    if not side_by_side:
        return run(first), run(second)
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(max_workers=4, thread_name_prefix="segment-write")
        pool = _POOL
    pending = pool.submit(run, second)
    try:
        done = run(first)
    finally:
        # never return (or raise) while the other statement may still be running
        wait([pending])
    return done, pending.result()
