"""The dispatch loop (listmonk's manager): claim a batch, render, send, record, repeat.

A `Manager` runs one campaign shard to the end. It depends only on the Protocols in
`sender.models`, so unit tests drive it with fakes and production wires Postgres and SMTP.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from murmur.events import EmailEvent, make_event_id, recipient_domain
from sender.esp.base import EspFailure, EspRef, RoutingMessenger
from sender.models import (
    Campaign,
    EventSink,
    Messenger,
    Outgoing,
    Recipient,
    Renderer,
    RenderFailure,
    SendFailure,
    Store,
)

log = logging.getLogger("sender.manager")


@dataclass(frozen=True)
class Config:
    """How one worker dispatches."""

    batch_size: int = 200
    concurrency: int = 4
    lease_seconds: int = 600
    max_send_errors: int = 100  # consecutive temporary failures before the worker pauses
    max_attempts: int = 3  # claims of one email before a temporary failure becomes final
    shard: int = 0
    shards: int = 1


@dataclass
class Pipe:
    """Counters of one running campaign in this worker (listmonk's pipe)."""

    sent: int = 0
    failed: int = 0
    skipped: int = 0
    released: int = 0
    reclaimed: int = 0
    consecutive_errors: int = 0
    outcome: str = "running"
    errors: list[str] = field(default_factory=list)


class Manager:
    def __init__(
        self,
        store: Store,
        messenger: Messenger,
        renderer_for: Callable[[Campaign], Renderer],
        events: EventSink,
        config: Config,
        progress: Callable[[Pipe], None] | None = None,
    ) -> None:
        self.store = store
        self.messenger = messenger
        self.renderer_for = renderer_for
        self.events = events
        self.config = config
        self.progress = progress
        self.stopping = threading.Event()
        # a sink that drops events (`--no-events`) is not handed any: none is built per email
        self.emitting = not getattr(events, "discards", False)
        # checked once: isinstance against a runtime Protocol costs ≈6 µs
        self.router = messenger if isinstance(messenger, RoutingMessenger) else None

    def stop(self) -> None:
        """Finish the messages on the wire, release the rest of the batch, return (SIGTERM)."""
        self.stopping.set()

    def run(self, campaign_id: int) -> Pipe:
        campaign = self.store.start(campaign_id)
        if self.router is not None:
            self.router.for_campaign(campaign)  # the account's ESPs, in priority order
        render = self.renderer_for(campaign)
        pipe = Pipe()
        while pipe.outcome == "running":
            pipe.outcome = self._step(campaign, render, pipe)
            if self.progress is not None:
                self.progress(pipe)
        self.messenger.flush()
        self.events.flush()
        return pipe

    def _step(self, campaign: Campaign, render: Renderer, pipe: Pipe) -> str:
        """One batch; returns the outcome, still `running` while there is more to do."""
        if self.stopping.is_set():
            return "stopped"
        status = self.store.status(campaign.campaign_id)
        if status == "cancelled":
            pipe.skipped += self.store.skip_queued(campaign.campaign_id, "campaign cancelled")
            return "cancelled"
        if status != "sending":
            return status
        cfg = self.config
        batch = self.store.claim(campaign, cfg.shard, cfg.shards, cfg.batch_size, cfg.lease_seconds)
        if not batch:
            return "sent" if self.store.finish(campaign.campaign_id) else "done"
        pipe.reclaimed += sum(r.reclaimed for r in batch)
        sent: dict[str, list[tuple[int, str]]] = {}  # by the ESP that sent them
        failed: dict[str, list[tuple[int, str]]] = {}
        unsent: list[int] = []
        lock = threading.Lock()

        def deliver(recipient: Recipient) -> None:
            if self.stopping.is_set():
                with lock:
                    unsent.append(recipient.email_record_id)
                return
            ok, value, temporary, esp = self._deliver(campaign, render, recipient)
            with lock:
                if ok:
                    sent.setdefault(esp, []).append((recipient.email_record_id, value))
                elif temporary and recipient.attempts < self.config.max_attempts:
                    unsent.append(recipient.email_record_id)  # deferred: a later claim retries
                else:
                    failed.setdefault(esp, []).append((recipient.email_record_id, value))
                pipe.consecutive_errors = pipe.consecutive_errors + 1 if temporary else 0

        renew = threading.Event()
        keeper = threading.Thread(
            target=self._keep_lease, args=(campaign, batch, renew), daemon=True
        )
        keeper.start()
        try:
            self._deliver_all(batch, deliver)
        finally:
            renew.set()
            keeper.join()
        for esp, rows in sent.items():
            self.store.mark_sent(campaign.campaign_id, esp, rows)
        for esp, rows in failed.items():
            self.store.mark_failed(campaign.campaign_id, esp, rows)
        self.store.release(campaign.campaign_id, unsent)
        self.events.flush()
        pipe.sent += sum(len(rows) for rows in sent.values())
        pipe.failed += sum(len(rows) for rows in failed.values())
        pipe.released += len(unsent)
        if pipe.consecutive_errors >= cfg.max_send_errors:
            reason = f"paused after {pipe.consecutive_errors} consecutive send errors"
            self.store.set_status_reason(campaign.campaign_id, reason)
            return "paused"
        return "stopped" if self.stopping.is_set() else "running"

    def _deliver_all(self, batch: list[Recipient], deliver: Callable[[Recipient], None]) -> None:
        """`deliver` every row on `concurrency` threads pulling from one iterator.

        No future per email (a pool's `map` makes one, and wakes this thread for each result):
        the threads run until the batch is drained. An unexpected error stops the pulling and
        is raised here once every thread has ended.
        """
        rows = iter(batch)  # next() on a list iterator is atomic: no row goes to two threads
        errors: list[BaseException] = []

        def work() -> None:
            try:
                for recipient in rows:
                    if errors:
                        return
                    deliver(recipient)
            except BaseException as exc:
                errors.append(exc)

        count = max(1, min(self.config.concurrency, len(batch)))
        threads = [threading.Thread(target=work, name=f"deliver-{i}") for i in range(count)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            raise errors[0]

    def _keep_lease(
        self, campaign: Campaign, batch: list[Recipient], done: threading.Event
    ) -> None:
        """Renew the batch's lease every third of it while the batch is in flight.

        A slow batch (a relay deferring for minutes) must not look abandoned: a lapsed lease
        lets another worker retry rows that are still being sent.
        """
        seconds = self.config.lease_seconds
        ids = [r.email_record_id for r in batch]
        while not done.wait(seconds / 3):
            try:
                self.store.extend_lease(campaign.campaign_id, ids, seconds)
            except Exception:  # the next renewal retries; the batch itself goes on
                log.exception("campaign %s: lease renewal failed", campaign.campaign_id)

    def _deliver(
        self, campaign: Campaign, render: Renderer, recipient: Recipient
    ) -> tuple[bool, str, bool, str]:
        """(sent, ESP message id or failure reason, was a temporary failure, ESP label)."""
        via = EspRef(self.messenger.name, None, "smtp")
        try:
            message = render(recipient)
        except RenderFailure as exc:
            return False, f"render: {exc}", False, via.label
        try:
            if self.router is not None:
                esp_id, via = self.router.push_via(message)
            else:
                esp_id = self.messenger.push(message)
        except SendFailure as exc:
            if isinstance(exc, EspFailure) and exc.via is not None:
                via = exc.via
            self._failure_events(campaign, message, exc, via)
            kind = "permanent" if exc.permanent else "temporary"
            return False, f"{kind}: {exc.reason}", not exc.permanent, via.label
        if self.emitting:
            self.events.emit(self._event(campaign, message, "send", esp_id, via))
        return True, esp_id, False, via.label

    def _failure_events(
        self, campaign: Campaign, message: Outgoing, exc: SendFailure, via: EspRef
    ) -> None:
        if not exc.permanent or not self.emitting:
            return
        self.events.emit(self._event(campaign, message, "reject", None, via, exc.reason))
        if exc.hard_bounce:
            self.events.emit(
                self._event(campaign, message, "bounce", None, via, exc.reason, "hard")
            )

    def _event(
        self,
        campaign: Campaign,
        message: Outgoing,
        kind: str,
        esp_id: str | None,
        via: EspRef,
        diagnostic: str | None = None,
        bounce_type: str | None = None,
    ) -> EmailEvent:
        return EmailEvent.model_validate(
            {
                "event_id": make_event_id(
                    via.label, kind, f"{message.email_record_id}:{message.message_id}"
                ),
                "type": kind,
                "timestamp": datetime.now(UTC),
                "provider": via.kind,
                "provider_message_id": esp_id,
                "email_record_id": message.email_record_id,
                "account_id": campaign.account_id,
                "campaign_id": campaign.campaign_id,
                "contact_id": message.contact_id,
                "esp": via.label,
                "recipient": message.rcpt_to,
                "recipient_domain": recipient_domain(message.rcpt_to),
                "bounce_type": bounce_type,
                "diagnostic": diagnostic,
            }
        )
