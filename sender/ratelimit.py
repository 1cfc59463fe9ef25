"""Token buckets shared by every sender worker through Postgres, spent locally in leases.

Each limit (one ESP account, or one recipient mailbox provider) is a row of `rate_buckets`.
A worker does not ask Postgres per message: it leases a small batch of tokens (about
`lease_seconds` of the limit's rate) under the row lock and spends them in-process, so the
per-message cost is a lock and a decrement while the total across all workers and shards stays
within `rate × elapsed + burst`. A lease that finds fewer than `min_grant` tokens gets none and
the worker sleeps until that many have accrued (leases stay batched however many workers
compete). The row's `factor` (0–1, the adaptive throttle's) scales the rate for everyone.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import sqlalchemy as sa

from sender.queries import query


def _q(name: str) -> sa.TextClause:
    return sa.text(query("ratelimit", name))


@dataclass(frozen=True)
class Limit:
    bucket: str  # `esp:<id|default>` or `provider:<gmail|yahoo|…>`
    rate: float  # tokens per second before the adaptive factor
    burst_seconds: float = 0.25
    lease_seconds: float = 0.1

    @property
    def burst(self) -> float:
        return max(self.rate * self.burst_seconds, float(self.lease_size(1.0)), 1.0)

    def lease_size(self, factor: float) -> int:
        return max(1, min(100_000, math.ceil(self.rate * factor * self.lease_seconds)))


class PgBuckets:
    """The shared state: lease tokens, read and change factors (one statement each)."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        # one statement per lease, committed by itself: a single round trip
        self.autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")
        self.known: set[str] = set()

    def ensure(self, limit: Limit) -> None:
        if limit.bucket in self.known:
            return
        with self.engine.begin() as conn:
            conn.execute(_q("ensure-bucket"), {"bucket": limit.bucket, "burst": limit.burst})
        self.known.add(limit.bucket)

    def lease(self, limit: Limit, want: int, min_grant: int) -> tuple[int, float, float]:
        """(tokens granted, tokens there before the grant, factor)."""
        self.ensure(limit)
        params = {
            "bucket": limit.bucket,
            "rate": limit.rate,
            "burst": limit.burst,
            "want": want,
            "min_grant": min_grant,
        }
        with self.autocommit.connect() as conn:
            row = conn.execute(_q("lease"), params).one()
        return int(row.granted), float(row.avail), float(row.factor)

    def factor(self, bucket: str) -> tuple[float, float | None]:
        """(factor, epoch seconds of its last change or None); (1.0, None) for a new bucket."""
        with self.engine.connect() as conn:
            row = conn.execute(_q("factor"), {"bucket": bucket}).one_or_none()
        if row is None:
            return 1.0, None
        changed = row.factor_changed_at.timestamp() if row.factor_changed_at else None
        return float(row.factor), changed

    def set_factor(
        self, limit: Limit, old: float, new: float, reason: str, min_interval: float
    ) -> bool:
        """Change the factor and log it, unless another worker just did; True when changed."""
        self.ensure(limit)
        params = {
            "bucket": limit.bucket,
            "old_factor": old,
            "new_factor": new,
            "min_interval": min_interval,
        }
        with self.engine.begin() as conn:
            if conn.execute(_q("set-factor"), params).one_or_none() is None:
                return False
            conn.execute(_q("log-change"), {**params, "reason": reason[:1000]})
        return True


@dataclass
class _Local:
    """Tokens this worker leased and has not spent yet."""

    tokens: int = 0
    spent: int = 0
    factor: float = 1.0
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass
class LimiterStats:
    leases: int = 0
    waits: int = 0
    slept_seconds: float = 0.0


class RateLimiter:
    """`acquire(esp_bucket, provider)` blocks until both limits give a token (None: no limit)."""

    def __init__(
        self,
        buckets: PgBuckets,
        limits: dict[str, Limit],
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.buckets = buckets
        self.limits = limits
        self.sleep = sleep
        self.local = {name: _Local() for name in limits}
        self.stats = LimiterStats()
        self.stats_lock = threading.Lock()

    def add(self, limit: Limit) -> None:
        """Add (or replace) a limit, e.g. a configured ESP account's, before sending."""
        self.limits[limit.bucket] = limit
        self.local.setdefault(limit.bucket, _Local())

    def acquire(self, *buckets: str) -> None:
        for bucket in buckets:
            local = self.local.get(bucket)
            if local is None:
                continue  # no limit for this bucket
            with local.lock:  # one thread leases for the others of this worker
                if local.tokens < 1:
                    self._lease(self.limits[bucket], local)
                local.tokens -= 1
                local.spent += 1

    def spent(self) -> int:
        """Tokens spent by this worker, over all buckets."""
        return sum(local.spent for local in self.local.values())

    def effective_rate(self, bucket: str) -> float | None:
        limit = self.limits.get(bucket)
        if limit is None:
            return None
        return limit.rate * self.local[bucket].factor

    def _lease(self, limit: Limit, local: _Local) -> None:
        """Lease until this worker holds a token (called with `local.lock` held)."""
        while local.tokens < 1:
            want = limit.lease_size(local.factor)
            min_grant = max(1, want // 2)
            granted, avail, factor = self.buckets.lease(limit, want, min_grant)
            local.factor = factor
            with self.stats_lock:
                self.stats.leases += 1
            if granted:
                local.tokens += granted
                return
            rate = max(limit.rate * factor, 1e-9)
            pause = min(1.0, max(0.0005, (min_grant - avail) / rate))
            with self.stats_lock:
                self.stats.waits += 1
                self.stats.slept_seconds += pause
            self.sleep(pause)
