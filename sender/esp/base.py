"""The one interface every ESP adapter implements, and the failures it raises.

An adapter makes ONE attempt per `push`: retries, backoff, rate limits, circuit breaking and
failover live in `sender.esp.router.EspRouter`, which is the Messenger the Manager sees.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from sender.models import Campaign, Outgoing, SendFailure


@dataclass(frozen=True)
class EspRef:
    """Which ESP handled a message.

    `label` goes in the ledger's `esp` column, `esp_id` is the configured ESP (None: the
    platform default), `kind` is the event's `provider`.
    """

    label: str
    esp_id: int | None
    kind: str


class EspFailure(SendFailure):
    """A SendFailure with what the router needs to decide between retry, backoff and failover.

    `throttled`: the ESP asked us to slow down (SMTP 421/451/452 rate answers, SES Throttling,
    TooManyRequestsException); `retry_after`: its hint in seconds, when it gave one;
    `esp_fault`: the ESP itself failed (5xx from SES, a dropped connection, an SMTP 4xx), which
    counts against its circuit breaker, unlike a recipient's permanent refusal.
    """

    def __init__(
        self,
        reason: str,
        permanent: bool,
        code: int | None = None,
        *,
        throttled: bool = False,
        retry_after: float | None = None,
        esp_fault: bool | None = None,
        via: EspRef | None = None,
    ) -> None:
        super().__init__(reason, permanent=permanent, code=code)
        self.throttled = throttled
        self.retry_after = retry_after
        self.esp_fault = (not permanent) if esp_fault is None else esp_fault
        self.via = via  # the ESP that answered


class EspAdapter(Protocol):
    """One ESP account. `push` is one attempt, thread-safe; raises SendFailure/EspFailure."""

    ref: EspRef

    def push(self, message: Outgoing) -> str:
        """Send one message once; returns the ESP's message id."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class RoutingMessenger(Protocol):
    """A Messenger that knows the campaign and says which ESP sent each message."""

    def for_campaign(self, campaign: Campaign) -> None:
        """Load the campaign account's ESPs before the first push."""
        ...

    def push_via(self, message: Outgoing) -> tuple[str, EspRef]:
        """Send; returns (ESP message id, the ESP that accepted it)."""
        ...
