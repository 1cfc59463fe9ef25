"""The feedback consumer end to end: a bounce on the topic → the contact cannot be sent to."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from murmur.db.tables import audit_log, feedback_events
from murmur.domain.suppression import can_send
from murmur.events import EmailEvent, make_event_id
from murmur.net import wait_until
from tests.ingestion.conftest import ConsumerRunner, MakeLedger, Topics, produce
from tests.ingestion.consumer.helpers import wait_committed

pytestmark = pytest.mark.integration


def _bounce(email_record_id: int, bounce_type: str, n: str | None = None) -> EmailEvent:
    # as the receiver emits it: only the email record id, the consumer enriches the rest
    return EmailEvent(
        event_id=make_event_id("sendgrid", "bounce", n or uuid.uuid4().hex),
        type="bounce",
        bounce_type=bounce_type,  # type: ignore[arg-type]
        timestamp=datetime.now(UTC),
        provider="sendgrid",
        email_record_id=email_record_id,
        diagnostic="550 5.1.1 user unknown",
    )


def test_a_hard_bounce_delivered_twice_blocks_sending_and_is_applied_once(
    consumers: ConsumerRunner,
    topics: Topics,
    kafka_bootstrap: str,
    db_engine: sa.Engine,
    make_ledger: MakeLedger,
) -> None:
    ledger, bystander = make_ledger(), make_ledger()
    bounce = _bounce(ledger.email_record_id, "hard")
    consumers.start(topics, "--role", "feedback")
    produce(kafka_bootstrap, topics.events, [bounce, bounce])

    def blocked() -> bool:
        with db_engine.connect() as conn:
            return not can_send(conn, ledger.account_id, ledger.contact_id)[0]

    wait_until(blocked, 90, "the hard bounce suppressing the contact")
    wait_committed(kafka_bootstrap, f"{topics.group}-fb", topics.events, 2, timeout=60)
    with db_engine.connect() as conn:
        applied = conn.execute(
            sa.select(audit_log.c.details).where(
                audit_log.c.account_id == ledger.account_id,
                audit_log.c.action == "feedback.applied",
            )
        ).all()
        recorded = conn.execute(
            sa.select(sa.func.count()).where(feedback_events.c.event_id == bounce.event_id)
        ).scalar_one()
        assert can_send(conn, bystander.account_id, bystander.contact_id)[0]
    assert [a.details["event_id"] for a in applied] == [bounce.event_id]
    assert recorded == 1


def test_soft_bounces_block_sending_only_at_the_limit(
    consumers: ConsumerRunner,
    topics: Topics,
    kafka_bootstrap: str,
    db_engine: sa.Engine,
    make_ledger: MakeLedger,
) -> None:
    ledger = make_ledger()
    consumers.env["MURMUR_SOFT_BOUNCE_LIMIT"] = "3"
    consumers.start(topics, "--role", "feedback")
    produce(kafka_bootstrap, topics.events, [_bounce(ledger.email_record_id, "soft") for _ in "ab"])
    wait_committed(kafka_bootstrap, f"{topics.group}-fb", topics.events, 2, timeout=90)
    with db_engine.connect() as conn:
        assert can_send(conn, ledger.account_id, ledger.contact_id)[0]

    produce(kafka_bootstrap, topics.events, [_bounce(ledger.email_record_id, "soft")])
    wait_committed(kafka_bootstrap, f"{topics.group}-fb", topics.events, 3, timeout=60)
    with db_engine.connect() as conn:
        allowed, reason = can_send(conn, ledger.account_id, ledger.contact_id)
    assert not allowed and "bounced" in reason
