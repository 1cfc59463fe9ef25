"""A relay that defers for a while (421/451) and refuses one address; events on the real broker."""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from email import message_from_bytes
from typing import Any

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller

from murmur.domain.sending import counters
from murmur.kafka import ensure_topics
from murmur.net import free_port
from sender.events import KafkaEventSink
from sender.manager import Config
from tests.sender.conftest import MakeCampaign
from tests.sender.esp_helpers import consume
from tests.sender.helpers import real_manager

pytestmark = pytest.mark.integration


class FlakyRelay:
    """Answers 451 to every other RCPT and 421 to every third DATA until `defer` runs out."""

    def __init__(self, defer: int, refuse: str) -> None:
        self.defer = defer
        self.refuse = refuse
        self.lock = threading.Lock()
        self.calls = 0
        self.deferrals = 0
        self.received: list[bytes] = []

    def _should_defer(self, every: int) -> bool:
        with self.lock:
            self.calls += 1
            if self.deferrals < self.defer and self.calls % every == 0:
                self.deferrals += 1
                return True
            return False

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if address == self.refuse:
            return f"550 5.1.1 <{address}>: user unknown"
        if self._should_defer(2):
            return "451 4.3.0 temporarily unavailable, try again"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self._should_defer(3):
            return "421 4.4.2 closing, too busy"
        with self.lock:
            self.received.append(envelope.original_content or envelope.content)
        return f"250 2.0.0 Ok: queued as Q{uuid.uuid4().hex[:10]}"


@pytest.fixture
def relay() -> Iterator[tuple[FlakyRelay, str]]:
    handler = FlakyRelay(defer=40, refuse="c0@placeholder")
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    yield handler, f"smtp://127.0.0.1:{port}"
    controller.stop()


def test_deferrals_are_retried_until_delivered_and_a_5_1_1_is_a_reject_and_hard_bounce(
    db_engine: sa.Engine,
    make_campaign: MakeCampaign,
    relay: tuple[FlakyRelay, str],
    kafka_bootstrap: str,
) -> None:
    handler, url = relay
    c = make_campaign(n=60, refused_each=1)
    handler.refuse = f"c0@r-{c.domain}"
    topic = f"test-{uuid.uuid4().hex}"
    ensure_topics(kafka_bootstrap, [topic], partitions=1)
    sink = KafkaEventSink(kafka_bootstrap, topic=topic)
    manager = real_manager(
        db_engine, url, Config(batch_size=20, concurrency=3), events=sink, max_retries=20
    )
    pipe = manager.run(c.campaign_id)

    assert handler.deferrals >= 20  # the relay really deferred (up to 40, by interleaving)
    delivered = Counter(str(message_from_bytes(raw)["To"]) for raw in handler.received)
    assert set(delivered) == c.allowed - {handler.refuse}
    assert set(delivered.values()) == {1}
    assert pipe.sent == 59 and pipe.failed == 1 and pipe.outcome == "sent"
    with db_engine.connect() as conn:
        counts = counters(conn, c.campaign_id)
        error, esp_id = conn.execute(
            sa.text(
                "select error, esp_message_id from emails e join contacts c using (contact_id)"
                " where e.campaign_id = :id and c.email = :email"
            ),
            {"id": c.campaign_id, "email": handler.refuse},
        ).one()
        queue_ids = (
            conn.execute(
                sa.text(
                    "select esp_message_id from emails where campaign_id = :id and status = 'sent'"
                ),
                {"id": c.campaign_id},
            )
            .scalars()
            .all()
        )
    assert counts["sent"] == 59 and counts["failed"] == 1
    assert error.startswith("permanent: 550 5.1.1") and esp_id is None
    assert all(q.startswith("Q") for q in queue_ids)  # the relay's queue id, not ours

    events = consume(kafka_bootstrap, topic, expected=61)
    kinds = Counter(e.type for e in events)
    assert kinds == {"send": 59, "reject": 1, "bounce": 1}
    bounce = next(e for e in events if e.type == "bounce")
    assert bounce.bounce_type == "hard" and bounce.provider == "smtp"
    assert bounce.campaign_id == c.campaign_id and bounce.account_id == c.account_id
    sends = [e for e in events if e.type == "send"]
    assert {e.provider_message_id for e in sends} == set(queue_ids)
    assert len({e.event_id for e in events}) == 61
