"""The feedback rules (murmur.domain.feedback) on the real Postgres, without Kafka."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from murmur.db.tables import audit_log, contacts, feedback_events, suppressions
from murmur.domain.feedback import (
    COUNTED,
    DUPLICATE,
    IGNORED,
    SUPPRESSED,
    UNMATCHED,
    apply_feedback,
)
from murmur.domain.suppression import can_send
from murmur.events import EmailEvent
from tests.ingestion.conftest import Ledger, MakeLedger

pytestmark = pytest.mark.integration


def _event(ledger: Ledger | None, type_: str, **fields: Any) -> EmailEvent:
    values: dict[str, Any] = {
        "event_id": uuid.uuid4().hex,
        "type": type_,
        "timestamp": datetime.now(UTC),
        "provider": "sendgrid",
    }
    if ledger is not None:
        values.update(
            account_id=ledger.account_id,
            contact_id=ledger.contact_id,
            email_record_id=ledger.email_record_id,
        )
    values.update(fields)
    return EmailEvent(**values)


def _apply(engine: sa.Engine, event: EmailEvent, limit: int = 3, days: int = 7) -> str:
    with engine.begin() as conn:
        return apply_feedback(conn, event, limit, timedelta(days=days))


def _allowed(engine: sa.Engine, ledger: Ledger) -> bool:
    with engine.connect() as conn:
        return can_send(conn, ledger.account_id, ledger.contact_id)[0]


@pytest.mark.parametrize(
    ("type_", "bounce_type", "status"),
    [
        ("bounce", "hard", "bounced"),
        ("complaint", None, "complained"),
        ("unsubscribe", None, "unsubscribed"),
    ],
)
def test_hard_bounce_complaint_and_unsubscribe_suppress_once_and_audit_the_event(
    db_engine: sa.Engine, make_ledger: MakeLedger, type_: str, bounce_type: str | None, status: str
) -> None:
    ledger = make_ledger()
    event = _event(ledger, type_, bounce_type=bounce_type)
    assert _apply(db_engine, event) == SUPPRESSED
    assert _apply(db_engine, event) == DUPLICATE
    assert not _allowed(db_engine, ledger)
    with db_engine.connect() as conn:
        contact_status = conn.execute(
            sa.select(contacts.c.status).where(contacts.c.contact_id == ledger.contact_id)
        ).scalar_one()
        sources = conn.execute(
            sa.select(suppressions.c.source).where(suppressions.c.account_id == ledger.account_id)
        ).all()
        audits = conn.execute(
            sa.select(audit_log.c.action, audit_log.c.details).where(
                audit_log.c.account_id == ledger.account_id,
                audit_log.c.action.in_(["feedback.applied", "suppression.add"]),
            )
        ).all()
    assert contact_status == status
    assert sources == [(f"event:{event.event_id}",)]
    assert sorted(a.action for a in audits) == ["feedback.applied", "suppression.add"]
    applied = next(a.details for a in audits if a.action == "feedback.applied")
    assert applied["event_id"] == event.event_id
    assert ledger.email not in str([a.details for a in audits]), "no addresses in the audit log"


def test_soft_bounces_suppress_at_the_limit_within_the_window_only(
    db_engine: sa.Engine, make_ledger: MakeLedger
) -> None:
    ledger = make_ledger()
    now = datetime.now(UTC)
    old = _event(ledger, "bounce", bounce_type="soft", timestamp=now - timedelta(days=10))
    assert _apply(db_engine, old) == COUNTED
    assert _apply(db_engine, _event(ledger, "bounce", bounce_type="soft")) == COUNTED
    assert _apply(db_engine, _event(ledger, "bounce", bounce_type="undetermined")) == COUNTED
    assert _allowed(db_engine, ledger), "the 10-day-old bounce is outside the 7-day window"
    assert _apply(db_engine, _event(ledger, "bounce", bounce_type="soft")) == SUPPRESSED
    assert not _allowed(db_engine, ledger)
    with db_engine.connect() as conn:
        recorded = conn.execute(
            sa.select(sa.func.count()).where(feedback_events.c.contact_id == ledger.contact_id)
        ).scalar_one()
    assert recorded == 4


def test_unmatched_and_non_feedback_events_change_nothing(
    db_engine: sa.Engine, make_ledger: MakeLedger
) -> None:
    ledger = make_ledger()
    assert _apply(db_engine, _event(None, "bounce", bounce_type="hard")) == UNMATCHED
    assert _apply(db_engine, _event(ledger, "open")) == IGNORED
    assert _allowed(db_engine, ledger)
