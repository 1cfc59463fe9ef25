"""Adaptive throttling per mailbox provider from the deferrals and bounces in ClickHouse.

Every `interval_seconds` a worker reads, per recipient mailbox provider, the sends, deferrals
and bounces of the last `window_minutes` from the `events` table (only those after the
provider's last change, so one bad spell is not punished twice). When deferrals + bounces reach
`threshold` of the sends (with at least `min_sent` sends), the provider's rate halves (down to
`floor`); when they stay under it, the rate recovers by `step` per interval up to the
configured limit. The factor lives in the shared `rate_buckets` row, so every worker and shard
slows down together; every change is logged, stored in `rate_limit_changes` and returned by
`metadata()` for the send job.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from murmur.domain.mailbox_providers import SEED_ROWS, ProviderKey, provider_of_domain
from sender.ratelimit import Limit, PgBuckets

log = logging.getLogger("sender.adaptive")


@dataclass(frozen=True)
class AdaptiveConfig:
    window_minutes: float = 10.0
    threshold: float = 0.05
    min_sent: int = 20
    interval_seconds: float = 30.0
    floor: float = 0.125
    step: float = 0.25


@dataclass(frozen=True)
class Health:
    sent: int = 0
    deferred: int = 0
    bounced: int = 0

    @property
    def volume(self) -> int:
        return self.sent + self.deferred

    @property
    def problem_rate(self) -> float:
        """Deferrals and bounces per attempt (a deferred message counts once per answer)."""
        return (self.deferred + self.bounced) / self.volume if self.volume else 0.0


@dataclass(frozen=True)
class Change:
    provider: str
    old_rate: float
    new_rate: float
    old_factor: float
    new_factor: float
    reason: str
    at: str


# Events are counted in buckets this wide. A bucket overlapping a rate change counts after it,
# so it must be short: with 10-second buckets, the deferrals that caused a halving were still
# counted after it on a fast machine, and the rate kept halving instead of recovering.
BUCKET_MS = 100
# (provider, type, seconds since epoch of the row's bucket, count)
HealthRows = Iterable[tuple[str, str, float, int]]


def decide(factor: float, health: Health, config: AdaptiveConfig) -> tuple[float, str] | None:
    """The new factor and why, or None to leave it (pure: unit-tested)."""
    if health.volume < config.min_sent:
        return None
    rate = health.problem_rate
    summary = (
        f"{health.deferred} deferrals + {health.bounced} bounces, {health.sent} sends: "
        f"{rate:.1%} (threshold {config.threshold:.1%})"
    )
    if rate >= config.threshold:
        new = max(config.floor, factor / 2)
        return (new, f"halved: {summary}") if new < factor else None
    if factor < 1.0:
        return min(1.0, factor + config.step), f"recovering: {summary}"
    return None


def clickhouse_reader(client: Any, database: str) -> Callable[[float], HealthRows]:
    """Reads sends/deferrals/bounces per provider since an epoch time from `events`."""
    domains = ", ".join(f"'{d}'" for d, _ in SEED_ROWS)
    keys = ", ".join(f"'{provider_of_domain(d)}'" for d, _ in SEED_ROWS)

    def read(since: float) -> HealthRows:
        sql = f"""
            select transform(lower(ifNull(recipient_domain, '')), [{domains}], [{keys}],
                             'other') as provider,
                   type,
                   toUnixTimestamp64Milli(
                       toStartOfInterval(timestamp, interval {BUCKET_MS} millisecond)
                   ) / 1000 as at,
                   count() as n
            from `{database}`.events
            where timestamp >= fromUnixTimestamp64Milli({int(since * 1000)})
              and type in ('send', 'deferral', 'bounce')
            group by provider, type, at"""
        result = client.query(sql)
        return [(str(p), str(t), float(a), int(n)) for p, t, a, n in result.result_rows]

    return read


@dataclass
class AdaptiveThrottle:
    buckets: PgBuckets
    limits: dict[str, Limit]  # provider key → its configured limit
    read: Callable[[float], HealthRows]
    config: AdaptiveConfig = field(default_factory=AdaptiveConfig)
    clock: Callable[[], float] = time.time
    changes: list[Change] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.lock = threading.Lock()
        self.next_at = 0.0

    def maybe_evaluate(self) -> None:
        """Evaluate when the interval has passed (cheap to call per message; never raises)."""
        now = self.clock()
        if now < self.next_at or not self.lock.acquire(blocking=False):
            return
        try:
            self.next_at = now + self.config.interval_seconds
            self.evaluate()
        except Exception as exc:  # ClickHouse down: keep the current rates
            self.errors.append(str(exc)[:300])
            log.warning("adaptive throttling skipped: %s", exc)
        finally:
            self.lock.release()

    def evaluate(self) -> list[Change]:
        """One evaluation of every limited provider; the changes made."""
        now = self.clock()
        window_start = now - self.config.window_minutes * 60
        state = {p: self.buckets.factor(limit.bucket) for p, limit in self.limits.items()}
        since = min([window_start, *(c for _, c in state.values() if c is not None)])
        rows = list(self.read(max(since, window_start)))
        made: list[Change] = []
        for provider, limit in self.limits.items():
            factor, changed_at = state[provider]
            start = max(window_start, changed_at or window_start)
            health = _health(provider, rows, start)
            verdict = decide(factor, health, self.config)
            if verdict is None:
                continue
            new, reason = verdict
            interval = self.config.interval_seconds * 0.9
            if not self.buckets.set_factor(limit, factor, new, reason, interval):
                continue  # another worker changed it meanwhile
            change = Change(
                provider,
                round(limit.rate * factor, 3),
                round(limit.rate * new, 3),
                factor,
                new,
                reason,
                datetime.now(UTC).isoformat(),
            )
            log.warning(
                "mailbox provider %s: rate %.3g/s → %.3g/s (%s)",
                provider,
                change.old_rate,
                change.new_rate,
                reason,
            )
            made.append(change)
        self.changes.extend(made)
        return made

    def metadata(self) -> dict[str, Any]:
        return {
            "adaptive_changes": [c.__dict__ for c in self.changes],
            "adaptive_errors": self.errors[-5:],
        }


def _health(
    provider: ProviderKey | str, rows: list[tuple[str, str, float, int]], start: float
) -> Health:
    sent = deferred = bounced = 0
    for p, kind, at, n in rows:
        if p != provider or at + BUCKET_MS / 1000 <= start:  # wholly before the start
            continue
        if kind == "send":
            sent += n
        elif kind == "deferral":
            deferred += n
        else:
            bounced += n
    return Health(sent, deferred, bounced)
