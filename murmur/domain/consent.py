"""Consent records: kept on the contact row and logged as `consent.*` audit entries.

The audit entries hold no address or IP (the log is append-only and survives erasure).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from ipaddress import IPv4Address, IPv6Address

import sqlalchemy as sa

from murmur.db.tables import contacts
from murmur.domain.audit import audit
from murmur.domain.errors import InvalidInput
from murmur.domain.suppression import suppress

MAX_CLOCK_SKEW = timedelta(days=1)  # a consent time may be this far ahead of our clock
IN_THE_FUTURE = f"is in the future (more than {MAX_CLOCK_SKEW.days} day ahead of the server clock)"


def check_consent_at(at: datetime | None, field: str = "consent_at") -> datetime | None:
    """`at` if it is a plausible consent time; InvalidInput (naming `field`) if in the future.

    A time without a zone is taken as UTC; up to MAX_CLOCK_SKEW ahead is allowed.
    """
    if at is None:
        return None
    aware = at if at.tzinfo is not None else at.replace(tzinfo=UTC)
    latest = datetime.now(UTC) + MAX_CLOCK_SKEW
    if aware > latest:
        raise InvalidInput(f"consent time {aware.isoformat()} {IN_THE_FUTURE}", field)
    return at


def record_consent(
    conn: sa.Connection,
    account_id: uuid.UUID,
    contact_id: int,
    source: str,
    at: datetime | None = None,
    ip: IPv4Address | IPv6Address | None = None,
    actor: str = "system",
) -> bool:
    """Store consent (source, time, IP) on the contact and audit it; False if no such contact.

    InvalidInput if `at` is in the future. The audit entry redacts addresses in `source`.
    """
    check_consent_at(at)
    done = conn.execute(
        contacts.update()
        .where(contacts.c.account_id == account_id, contacts.c.contact_id == contact_id)
        .values(
            consent_source=source,
            consent_at=at if at is not None else sa.func.now(),
            consent_ip=ip,
            updated_at=sa.func.now(),
        )
        .returning(contacts.c.consent_at)
    ).one_or_none()
    if done is None:
        return False
    details = {
        "source": source,
        "consent_at": done.consent_at.isoformat(),
        "has_ip": ip is not None,
    }
    audit(conn, account_id, actor, "consent.granted", "contact", contact_id, details)
    return True


def withdraw_consent(
    conn: sa.Connection,
    account_id: uuid.UUID,
    contact_id: int,
    source: str | None = None,
    actor: str = "system",
) -> bool:
    """Unsubscribe the contact (suppression + status) and audit it; False if no such contact."""
    email = conn.execute(
        sa.select(contacts.c.email).where(
            contacts.c.account_id == account_id, contacts.c.contact_id == contact_id
        )
    ).scalar()
    if email is None:
        return False
    suppress(conn, account_id, email, "unsubscribe", source, actor)
    audit(conn, account_id, actor, "consent.withdrawn", "contact", contact_id, {"source": source})
    return True
