"""The feedback loop's rules: which email events suppress a contact, applied exactly once.

Hard bounces, complaints and unsubscribes suppress the address at once; soft (and undetermined)
bounces suppress it once `soft_bounce_limit` of them arrived within `soft_bounce_window`, counted
from `feedback_events`. Every event is recorded in `feedback_events` in the same transaction as
its effect, so a redelivered event changes nothing. Audit entries name the event id, never the
address.
"""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from murmur.db.tables import contacts, feedback_events
from murmur.domain.audit import audit
from murmur.domain.suppression import suppress
from murmur.email_address import InvalidEmail
from murmur.events import EmailEvent

FEEDBACK_TYPES = ("bounce", "complaint", "unsubscribe")
_REASON = {"bounce": "bounce", "complaint": "complaint", "unsubscribe": "unsubscribe"}
ACTOR = "ingestion:feedback"

# outcomes of apply_feedback
IGNORED, UNMATCHED, DUPLICATE, COUNTED, SUPPRESSED, NO_ADDRESS = (
    "ignored",
    "unmatched",
    "duplicate",
    "counted",
    "suppressed",
    "no-address",
)


def is_feedback(event: EmailEvent) -> bool:
    return event.type in FEEDBACK_TYPES


def apply_feedback(
    conn: sa.Connection,
    event: EmailEvent,
    soft_bounce_limit: int = 3,
    soft_bounce_window: timedelta = timedelta(days=7),
) -> str:
    """Apply one event inside the caller's transaction; return what happened (an outcome)."""
    if not is_feedback(event):
        return IGNORED
    if event.account_id is None:
        return UNMATCHED
    account_id = event.account_id
    recorded = conn.execute(
        insert(feedback_events)
        .values(
            event_id=event.event_id,
            account_id=account_id,
            contact_id=event.contact_id,
            type=event.type,
            bounce_type=event.bounce_type,
            occurred_at=event.timestamp,
        )
        .on_conflict_do_nothing(index_elements=[feedback_events.c.event_id])
        .returning(feedback_events.c.event_id)
    ).first()
    if recorded is None:
        return DUPLICATE
    details: dict[str, object] = {
        "event_id": event.event_id,
        "type": event.type,
        "bounce_type": event.bounce_type,
        "provider": event.provider,
    }
    if event.type == "bounce" and event.bounce_type != "hard":
        if event.contact_id is None:
            audit(conn, account_id, ACTOR, "feedback.soft_bounce", "event", event.event_id, details)
            return COUNTED
        count = _soft_bounces(conn, event, soft_bounce_window)
        details.update(soft_bounces=count, limit=soft_bounce_limit)
        if count < soft_bounce_limit:
            audit(
                conn,
                account_id,
                ACTOR,
                "feedback.soft_bounce",
                "contact",
                event.contact_id,
                details,
            )
            return COUNTED
    email = _address(conn, event)
    if email is None:
        audit(conn, account_id, ACTOR, "feedback.no_address", "event", event.event_id, details)
        return NO_ADDRESS
    try:
        suppress(
            conn,
            account_id,
            email,
            _REASON[event.type],
            source=f"event:{event.event_id}",
            actor=ACTOR,
        )
    except InvalidEmail:
        audit(conn, account_id, ACTOR, "feedback.no_address", "event", event.event_id, details)
        return NO_ADDRESS
    object_id = event.contact_id if event.contact_id is not None else event.event_id
    audit(conn, account_id, ACTOR, "feedback.applied", "contact", object_id, details)
    return SUPPRESSED


def _soft_bounces(conn: sa.Connection, event: EmailEvent, window: timedelta) -> int:
    """Soft/undetermined bounces of the contact in the window ending at this event (inclusive)."""
    fe = feedback_events.c
    return int(
        conn.execute(
            sa.select(sa.func.count())
            .select_from(feedback_events)
            .where(
                fe.account_id == event.account_id,
                fe.contact_id == event.contact_id,
                fe.type == "bounce",
                sa.or_(fe.bounce_type.is_(None), fe.bounce_type != "hard"),
                fe.occurred_at > event.timestamp - window,
                fe.occurred_at <= event.timestamp,
            )
        ).scalar_one()
    )


def _address(conn: sa.Connection, event: EmailEvent) -> str | None:
    """The contact's stored address (the ledger's truth), else the event's recipient."""
    if event.contact_id is not None:
        email = conn.execute(
            sa.select(contacts.c.email).where(
                contacts.c.account_id == event.account_id,
                contacts.c.contact_id == event.contact_id,
            )
        ).scalar()
        if email:
            return str(email)
    return event.recipient
