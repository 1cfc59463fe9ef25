"""Unit tests of the Manager's loop with in-memory fakes of its Store and Messenger Protocols."""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, field

from murmur.events import EmailEvent
from sender.manager import Config, Manager
from sender.models import Campaign, Outgoing, Recipient, Renderer, RenderFailure, SendFailure

CAMPAIGN = Campaign(7, uuid.uuid4(), "s", "n", "a@x.example", None, "<p>x</p>", None, "addr")


@dataclass
class FakeStore:
    rows: dict[int, str]  # email_record_id -> state
    status_value: str = "sending"
    cancel_after_claims: int | None = None
    claims: int = 0
    sent: dict[int, str] = field(default_factory=dict)
    failed: dict[int, str] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)
    extended: list[list[int]] = field(default_factory=list)
    attempts: dict[int, int] = field(default_factory=dict)
    renewed: threading.Event = field(default_factory=threading.Event)

    def start(self, campaign_id: int) -> Campaign:
        return CAMPAIGN

    def status(self, campaign_id: int) -> str:
        return self.status_value

    def claim(
        self, campaign: Campaign, shard: int, shards: int, limit: int, lease_seconds: int
    ) -> list[Recipient]:
        self.claims += 1
        if self.cancel_after_claims is not None and self.claims > self.cancel_after_claims:
            self.status_value = "cancelled"
        ids = [i for i, s in sorted(self.rows.items()) if s == "queued" and i % shards == shard]
        batch = ids[:limit]
        for i in batch:
            self.rows[i] = "sending"
            self.attempts[i] = self.attempts.get(i, 0) + 1
        return [Recipient(i, i, f"r{i}@example.com", attempts=self.attempts[i]) for i in batch]

    def mark_sent(self, campaign_id: int, esp: str, sent: list[tuple[int, str]]) -> None:
        for i, mid in sent:
            self.rows[i] = "sent"
            self.sent[i] = mid

    def mark_failed(self, campaign_id: int, esp: str, failed: list[tuple[int, str]]) -> None:
        for i, reason in failed:
            self.rows[i] = "failed"
            self.failed[i] = reason

    def release(self, campaign_id: int, email_record_ids: list[int]) -> None:
        for i in email_record_ids:
            self.rows[i] = "queued"

    def extend_lease(self, campaign_id: int, email_record_ids: list[int], seconds: int) -> None:
        self.extended.append(list(email_record_ids))
        self.renewed.set()

    def skip_queued(self, campaign_id: int, reason: str) -> int:
        queued = [i for i, s in self.rows.items() if s == "queued"]
        for i in queued:
            self.rows[i] = "skipped"
        return len(queued)

    def finish(self, campaign_id: int) -> bool:
        if any(s in ("queued", "sending") for s in self.rows.values()):
            return False
        self.status_value = "sent"
        return True

    def set_status_reason(self, campaign_id: int, reason: str) -> None:
        self.reasons.append(reason)


@dataclass
class FakeMessenger:
    fail: dict[int, SendFailure] = field(default_factory=dict)
    pushed: list[int] = field(default_factory=list)
    on_push: object = None
    name: str = "fake"

    def push(self, message: Outgoing) -> str:
        if callable(self.on_push):
            self.on_push(message)
        if message.email_record_id in self.fail:
            raise self.fail[message.email_record_id]
        self.pushed.append(message.email_record_id)
        return f"esp-{message.email_record_id}"

    def flush(self) -> None:
        return None

    def close(self) -> None:
        return None


@dataclass
class ListSink:
    events: list[EmailEvent] = field(default_factory=list)

    def emit(self, event: EmailEvent) -> None:
        self.events.append(event)

    def flush(self) -> None:
        return None


def _renderer(bad: frozenset[int] = frozenset()) -> Renderer:
    def render(r: Recipient) -> Outgoing:
        if r.email_record_id in bad:
            raise RenderFailure("undefined variable")
        assert r.email is not None
        return Outgoing(
            r.email_record_id,
            r.contact_id,
            "a@x.example",
            r.email,
            b"x",
            f"<{r.email_record_id}@x>",
        )

    return render


def _manager(
    store: FakeStore,
    messenger: FakeMessenger,
    sink: ListSink,
    bad: frozenset[int] = frozenset(),
    **cfg: int,
) -> Manager:
    config = Config(**{"batch_size": 10, "concurrency": 2, **cfg})
    return Manager(store, messenger, lambda c: _renderer(bad), sink, config)


def test_every_queued_row_is_sent_once_and_the_campaign_finishes() -> None:
    store = FakeStore({i: "queued" for i in range(1, 36)})
    messenger, sink = FakeMessenger(), ListSink()
    pipe = _manager(store, messenger, sink).run(7)
    assert pipe.outcome == "sent" and pipe.sent == 35
    assert sorted(messenger.pushed) == list(range(1, 36))
    assert set(store.rows.values()) == {"sent"}
    assert store.sent[3] == "esp-3"
    assert {e.type for e in sink.events} == {"send"} and len(sink.events) == 35


def test_a_render_error_fails_that_email_only() -> None:
    store = FakeStore({i: "queued" for i in range(1, 11)})
    messenger, sink = FakeMessenger(), ListSink()
    pipe = _manager(store, messenger, sink, bad=frozenset({4})).run(7)
    assert pipe.sent == 9 and pipe.failed == 1
    assert store.failed == {4: "render: undefined variable"}


def test_permanent_failures_are_rejects_and_5_1_x_also_hard_bounces() -> None:
    store = FakeStore({i: "queued" for i in range(1, 6)})
    fail = {
        2: SendFailure("550 5.1.1 user unknown (RCPT TO)", permanent=True, code=550),
        3: SendFailure("554 5.7.1 policy (DATA)", permanent=True, code=554),
        4: SendFailure("451 4.3.0 try later (DATA)", permanent=False, code=451),
    }
    sink = ListSink()
    _manager(store, FakeMessenger(fail=fail), sink).run(7)
    kinds = sorted((e.email_record_id or 0, e.type) for e in sink.events if e.type != "send")
    assert kinds == [(2, "bounce"), (2, "reject"), (3, "reject")]
    bounce = next(e for e in sink.events if e.type == "bounce")
    assert bounce.bounce_type == "hard" and bounce.provider == "smtp"
    assert store.failed[4].startswith("temporary: 451")  # after max_attempts claims
    assert store.attempts[4] == 3 and store.attempts[1] == 1


def test_stop_releases_the_unsent_rest_of_the_batch() -> None:
    store = FakeStore({i: "queued" for i in range(1, 31)})
    manager: Manager

    def stop_at_five(message: Outgoing) -> None:
        if message.email_record_id == 5:
            manager.stop()

    messenger = FakeMessenger(on_push=stop_at_five)
    manager = _manager(store, messenger, ListSink(), concurrency=1)
    pipe = manager.run(7)
    assert pipe.outcome == "stopped"
    assert messenger.pushed == [1, 2, 3, 4, 5]
    assert [i for i, s in store.rows.items() if s == "sent"] == [1, 2, 3, 4, 5]
    assert "sending" not in store.rows.values()
    assert pipe.released == 5  # the rest of the first batch of 10


def test_a_cancelled_campaign_stops_before_the_next_batch_and_skips_the_queue() -> None:
    store = FakeStore({i: "queued" for i in range(1, 51)}, cancel_after_claims=1)
    messenger = FakeMessenger()
    pipe = _manager(store, messenger, ListSink()).run(7)
    assert pipe.outcome == "cancelled"
    assert len(messenger.pushed) <= 20  # the batch in hand, and at most the one claimed then
    assert "queued" not in store.rows.values() and "sending" not in store.rows.values()


def test_a_shard_claims_only_its_rows_and_leaves_finishing_to_the_last_worker() -> None:
    store = FakeStore({i: "queued" for i in range(1, 21)})
    messenger = FakeMessenger()
    pipe = _manager(store, messenger, ListSink(), shard=1, shards=2).run(7)
    assert pipe.outcome == "done"
    assert all(i % 2 == 1 for i in messenger.pushed) and len(messenger.pushed) == 10


def test_the_worker_pauses_after_too_many_consecutive_temporary_errors() -> None:
    store = FakeStore({i: "queued" for i in range(1, 41)})
    fail = {i: SendFailure("421 busy", permanent=False, code=421) for i in range(1, 41)}
    pipe = _manager(store, FakeMessenger(fail=fail), ListSink(), max_send_errors=15).run(7)
    assert pipe.outcome == "paused"
    assert store.reasons and "consecutive send errors" in store.reasons[0]


def test_a_slow_batch_keeps_renewing_its_lease_so_no_one_retries_it_meanwhile() -> None:
    store = FakeStore({i: "queued" for i in range(1, 4)})

    def slow(message: Outgoing) -> None:  # the relay is slow until the lease was renewed
        assert store.renewed.wait(30)

    _manager(store, FakeMessenger(on_push=slow), ListSink(), lease_seconds=1).run(7)
    assert store.extended and store.extended[0] == [1, 2, 3]
    assert set(store.rows.values()) == {"sent"}
