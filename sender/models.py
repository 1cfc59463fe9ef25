"""The values and interfaces the Manager works with: Store, Messenger, Renderer, EventSink."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from murmur.domain.campaign_content import CampaignContent
from murmur.events import EmailEvent
from murmur.rendering.message import RenderedMessage

# Everything a worker needs to render and address one campaign's messages: the content the
# API's preview and test-send render too, from the one loader of `murmur.domain.campaign_content`.
Campaign = CampaignContent


@dataclass(frozen=True)
class Recipient:
    """One claimed ledger row with the contact fields a template sees."""

    email_record_id: int
    contact_id: int
    email: str | None
    first_name: str | None = None
    last_name: str | None = None
    custom_fields: dict[str, Any] = field(default_factory=dict)
    reclaimed: bool = False
    attempts: int = 1  # claims of this row so far, this one included


# One rendered, signed message ready for the wire, as `murmur.rendering` builds it for the API's
# test-send too.
Outgoing = RenderedMessage


class SendFailure(Exception):
    """A message could not be delivered; `permanent` (5xx) or not (4xx after retries)."""

    def __init__(self, reason: str, permanent: bool, code: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent
        self.code = code
        # 5.1.x: the recipient address itself is bad (unknown user, bad domain)
        self.hard_bounce = permanent and " 5.1." in f" {reason}"


class RenderFailure(Exception):
    """One recipient's message cannot be rendered; that email fails, not the batch."""


class Store(Protocol):
    """The send ledger and campaign state (Postgres in production)."""

    def start(self, campaign_id: int) -> Campaign:
        """Snapshot the audience if needed and move the campaign to `sending`."""
        ...

    def status(self, campaign_id: int) -> str:
        """The campaign's current status (`sending`, `cancelled`, ...)."""
        ...

    def claim(
        self, campaign: Campaign, shard: int, shards: int, limit: int, lease_seconds: int
    ) -> list[Recipient]:
        """Lock up to `limit` sendable rows of the shard as `sending` until the lease ends."""
        ...

    def mark_sent(self, campaign_id: int, esp: str, sent: list[tuple[int, str]]) -> None:
        """(email_record_id, esp message id) pairs are `sent`."""
        ...

    def mark_failed(self, campaign_id: int, esp: str, failed: list[tuple[int, str]]) -> None:
        """(email_record_id, reason) pairs are `failed`."""
        ...

    def release(self, campaign_id: int, email_record_ids: list[int]) -> None:
        """Claimed rows that were not sent go back to `queued`."""
        ...

    def extend_lease(self, campaign_id: int, email_record_ids: list[int], seconds: int) -> None:
        """Keep the claim on rows still being worked on for `seconds` more."""
        ...

    def skip_queued(self, campaign_id: int, reason: str) -> int:
        """Mark every still-queued row `skipped` (a cancelled campaign); how many."""
        ...

    def finish(self, campaign_id: int) -> bool:
        """Mark the campaign `sent` when no row is left open; True when it is sent."""
        ...

    def set_status_reason(self, campaign_id: int, reason: str) -> None: ...


class Messenger(Protocol):
    """Delivers rendered messages (listmonk's messenger: name/push/flush/close)."""

    name: str

    def push(self, message: Outgoing) -> str:
        """Send one message; returns the ESP's message id. Raises SendFailure. Thread-safe."""
        ...

    def flush(self) -> None: ...

    def close(self) -> None: ...


class Renderer(Protocol):
    """Turns one recipient into a ready message (personalised, tracked, signed)."""

    def __call__(self, recipient: Recipient) -> Outgoing:
        """Raises RenderFailure when this recipient's message cannot be built."""
        ...


class EventSink(Protocol):
    """Where send/reject events go (Kafka in production)."""

    def emit(self, event: EmailEvent) -> None: ...

    def flush(self) -> None:
        """Block until every emitted event is durable."""
        ...
