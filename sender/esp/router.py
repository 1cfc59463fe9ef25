"""`EspRouter`: the Messenger that rate-limits, retries with backoff and fails over between ESPs.

For each message: take the first ESP in the account's priority order whose circuit lets it
through, wait for a token of that ESP's bucket and of the recipient's mailbox provider's bucket
(`sender.ratelimit`, shared by every worker), send once. A throttle or temporary error is retried
after a jittered backoff that honours the ESP's hint; failures that are the ESP's fault feed its
circuit breaker, and once it opens the next ESP takes the traffic until a half-open probe
succeeds. A permanent error is raised at once (recorded, never retried). When every circuit is
open the message waits for the first cool-down (never lost); after `max_attempts` it goes back
to the ledger as a temporary failure, for a later claim.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from murmur.domain.mailbox_providers import provider_of_address
from murmur.events import EmailEvent, make_event_id, recipient_domain
from sender.adaptive import AdaptiveThrottle
from sender.circuit import CircuitBreaker, CircuitConfig
from sender.esp.backoff import Backoff
from sender.esp.base import EspAdapter, EspFailure, EspRef
from sender.models import Campaign, EventSink, Outgoing, SendFailure
from sender.ratelimit import RateLimiter


@dataclass(frozen=True)
class RouterConfig:
    max_attempts: int = 6
    backoff: Backoff = field(default_factory=Backoff)
    circuit: CircuitConfig = field(default_factory=CircuitConfig)
    max_wait_seconds: float = 120.0  # for a circuit to half-open, per message


@dataclass
class EspStats:
    sent: int = 0
    failed: int = 0
    retries: int = 0
    throttled: int = 0


def provider_bucket(provider: str) -> str:
    return f"provider:{provider}"


def esp_bucket(ref: EspRef) -> str:
    return f"esp:{ref.esp_id if ref.esp_id is not None else ref.label}"


class EspRouter:
    name = ""  # no ESP: an email that failed before reaching one (render) records esp = null

    def __init__(
        self,
        adapters_for: Callable[[Campaign], list[EspAdapter]],
        config: RouterConfig,
        limiter: RateLimiter | None = None,
        events: EventSink | None = None,
        adaptive: AdaptiveThrottle | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.adapters_for = adapters_for
        self.config = config
        self.limiter = limiter
        self.events = events
        self.adaptive = adaptive
        self.sleep = sleep
        self.adapters: list[EspAdapter] = []
        self.breakers: dict[str, CircuitBreaker] = {}
        self.stats: dict[str, EspStats] = {}
        self.campaign: Campaign | None = None
        self.lock = threading.Lock()

    def for_campaign(self, campaign: Campaign) -> None:
        for adapter in self.adapters:
            adapter.close()
        self.adapters = self.adapters_for(campaign)
        if not self.adapters:
            raise SendFailure(f"campaign {campaign.campaign_id}: no ESP configured", False)
        self.campaign = campaign
        for adapter in self.adapters:
            label = adapter.ref.label
            self.breakers.setdefault(label, CircuitBreaker(label, self.config.circuit))
            self.stats.setdefault(label, EspStats())

    def push(self, message: Outgoing) -> str:
        return self.push_via(message)[0]

    def push_via(self, message: Outgoing) -> tuple[str, EspRef]:
        if self.adaptive is not None:
            self.adaptive.maybe_evaluate()
        provider = provider_bucket(provider_of_address(message.rcpt_to))
        last: EspFailure | None = None
        attempt = 0
        waited = 0.0
        while attempt < self.config.max_attempts:
            adapter = self._pick()
            if adapter is None:
                if waited >= self.config.max_wait_seconds:
                    break
                pause = max(0.01, min(b.reopens_in() for b in self.breakers.values()))
                self.sleep(pause)
                waited += pause
                continue
            attempt += 1
            ref = adapter.ref
            breaker = self.breakers[ref.label]
            if self.limiter is not None:
                self.limiter.acquire(esp_bucket(ref), provider)
            try:
                esp_message_id = adapter.push(message)
            except SendFailure as raw:
                exc = _as_esp_failure(raw, ref)
                breaker.record(not exc.esp_fault, exc.reason)
                self._count(ref, exc)
                if exc.permanent:
                    raise exc from None
                if exc.throttled and not exc.esp_fault:
                    self._deferral(message, ref, exc, attempt)
                last = exc
                if attempt < self.config.max_attempts:
                    self.sleep(self.config.backoff.delay(attempt, exc.retry_after))
                continue
            breaker.record(True)
            with self.lock:
                self.stats[ref.label].sent += 1
            return esp_message_id, ref
        if last is None:
            last = EspFailure("no ESP available: every circuit is open", permanent=False)
        raise last

    def _pick(self) -> EspAdapter | None:
        for adapter in self.adapters:
            if self.breakers[adapter.ref.label].allow():
                return adapter
        return None

    def _count(self, ref: EspRef, exc: EspFailure) -> None:
        with self.lock:
            stats = self.stats[ref.label]
            if exc.permanent:
                stats.failed += 1
            else:
                stats.retries += 1
                stats.throttled += int(exc.throttled)

    def _deferral(self, message: Outgoing, ref: EspRef, exc: EspFailure, attempt: int) -> None:
        """A `deferral` event (the recipient's provider said 4xx): adaptive throttling reads it."""
        if self.events is None or self.campaign is None:
            return
        key = f"{message.email_record_id}:{message.message_id}:{time.time_ns()}:{attempt}"
        self.events.emit(
            EmailEvent.model_validate(
                {
                    "event_id": make_event_id(ref.label, "deferral", key),
                    "type": "deferral",
                    "timestamp": datetime.now(UTC),
                    "provider": ref.kind,
                    "email_record_id": message.email_record_id,
                    "account_id": self.campaign.account_id,
                    "campaign_id": self.campaign.campaign_id,
                    "contact_id": message.contact_id,
                    "esp": ref.label,
                    "recipient": message.rcpt_to,
                    "recipient_domain": recipient_domain(message.rcpt_to),
                    "diagnostic": exc.reason[:1000],
                }
            )
        )

    def flush(self) -> None:
        return None

    def close(self) -> None:
        for adapter in self.adapters:
            adapter.close()
        self.adapters = []

    def metadata(self) -> dict[str, Any]:
        """What the send job shows: per-ESP counts, circuit transitions, adaptive changes."""
        data: dict[str, Any] = {
            "esps": {label: stats.__dict__.copy() for label, stats in self.stats.items()},
            "circuit_transitions": [
                t.__dict__ for b in self.breakers.values() for t in b.transitions
            ],
        }
        if self.limiter is not None:
            data["rate_limits"] = {
                bucket: self.limiter.effective_rate(bucket) for bucket in self.limiter.limits
            }
            data["limiter"] = {**self.limiter.stats.__dict__, "tokens": self.limiter.spent()}
        if self.adaptive is not None:
            data.update(self.adaptive.metadata())
        return data


def _as_esp_failure(exc: SendFailure, ref: EspRef) -> EspFailure:
    if isinstance(exc, EspFailure):
        if exc.via is None:
            exc.via = ref
        return exc
    failure = EspFailure(exc.reason, exc.permanent, exc.code, via=ref)
    failure.hard_bounce = exc.hard_bounce
    return failure
