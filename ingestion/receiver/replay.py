"""Replay protection: the signed-timestamp window and Mailgun's seen-token table.

`MURMUR_WEBHOOK_MAX_AGE_S` bounds how old (or how far in the future) a signed timestamp may be;
0 turns the window and the token check off, for replaying archived payloads on purpose.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime

import psycopg

from ingestion.receiver.errors import WebhookError, unauthorized
from murmur.db.engine import libpq_url

log = logging.getLogger(__name__)

_CLAIM = """
insert into webhook_tokens (provider, token, seen_at) values (%s, %s, now())
on conflict (provider, token) do update set seen_at = excluded.seen_at
  where webhook_tokens.seen_at < now() - make_interval(secs => %s)
returning 1
"""
_RELEASE = "delete from webhook_tokens where provider = %s and token = %s"
_PRUNE = "delete from webhook_tokens where seen_at < now() - make_interval(secs => %s)"
_PRUNE_EVERY = 1000


def check_fresh(timestamp: float | datetime, max_age_s: int, what: str) -> None:
    """Refuse a signed timestamp outside the replay window (401 naming `what`)."""
    if max_age_s <= 0:
        return
    epoch = timestamp.timestamp() if isinstance(timestamp, datetime) else timestamp
    skew = time.time() - epoch
    if skew > max_age_s:
        raise unauthorized(
            f"{what} is {skew:.0f}s old (older than {max_age_s}s): stale or replayed"
        )
    if skew < -max_age_s:
        raise unauthorized(f"{what} is {-skew:.0f}s in the future (more than {max_age_s}s)")


class TokenStore:
    """Remembers signature tokens in Postgres `webhook_tokens` for the replay window."""

    def __init__(self, postgres_url: str | None, window_s: int) -> None:
        self._url = libpq_url(postgres_url) if postgres_url else None
        self._window = window_s
        self._conn: psycopg.AsyncConnection[tuple[int]] | None = None
        self._lock = asyncio.Lock()
        self._claims = 0

    async def _execute(self, sql: str, params: tuple[object, ...]) -> bool:
        if self._url is None:
            raise WebhookError(503, "Postgres is not configured (MURMUR_POSTGRES_URL)")
        async with self._lock:
            for attempt in (1, 2):
                try:
                    if self._conn is None or self._conn.closed:
                        self._conn = await psycopg.AsyncConnection.connect(
                            self._url, autocommit=True, connect_timeout=3
                        )
                    cur = await self._conn.execute(sql, params)
                    return cur.rowcount > 0
                except psycopg.OperationalError as exc:
                    self._conn = None
                    if attempt == 2:
                        log.warning("webhook token store unavailable: %s", exc)
                        raise WebhookError(
                            503, "replay-token store (Postgres) unavailable"
                        ) from exc
        raise AssertionError("unreachable")

    async def claim(self, provider: str, token: str) -> bool:
        """True when `token` was not seen within the window (and is now recorded)."""
        fresh = await self._execute(_CLAIM, (provider, token, self._window))
        self._claims += 1
        if self._claims % _PRUNE_EVERY == 0:
            await self._execute(_PRUNE, (self._window,))
        return fresh

    async def release(self, provider: str, token: str) -> None:
        """Forget a token whose request was not accepted, so the provider's retry passes."""
        try:
            await self._execute(_RELEASE, (provider, token))
        except WebhookError:
            log.warning(
                "could not release webhook token of %s; its retry will be refused", provider
            )

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()
