"""Suppression list and the one gate every sender path calls: `can_send`.

Erased addresses are suppressed by key `sha256:<hex of the normalized email>` so that the raw
address is gone yet a re-import of it stays unsendable.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from murmur.db.tables import contacts, erasures, suppressions
from murmur.domain.audit import audit
from murmur.email_address import InvalidEmail, normalize_email

REASONS = ("unsubscribe", "bounce", "complaint", "manual", "erasure")
REASON_STATUS = {"unsubscribe": "unsubscribed", "bounce": "bounced", "complaint": "complained"}
ERASED_PREFIX = "sha256:"


def email_sha256(normalized_email: str) -> str:
    return hashlib.sha256(normalized_email.encode()).hexdigest()


def erased_key(normalized_email: str) -> str:
    """The suppression-table key of an erased address."""
    return ERASED_PREFIX + email_sha256(normalized_email)


def suppress(
    conn: sa.Connection,
    account_id: uuid.UUID,
    email: str,
    reason: str,
    source: str | None = None,
    actor: str = "system",
) -> dict[str, Any]:
    """Suppress `email` (idempotent; a newer reason replaces an older one, except erasure).

    Also moves a matching contact to unsubscribed/bounced/complained (manual: a subscribed
    contact becomes unsubscribed). Raises InvalidEmail.
    """
    if reason not in REASONS:
        raise ValueError(f"reason must be one of {', '.join(REASONS)}, got {reason!r}")
    key = email if email.startswith(ERASED_PREFIX) else normalize_email(email)
    stmt = insert(suppressions).values(
        account_id=account_id, email=key, reason=reason, source=source
    )
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=[suppressions.c.account_id, suppressions.c.email],
            set_={"reason": stmt.excluded.reason, "source": stmt.excluded.source},
            where=suppressions.c.reason != "erasure",
        )
    )
    row = (
        conn.execute(
            sa.select(suppressions).where(
                suppressions.c.account_id == account_id, suppressions.c.email == key
            )
        )
        .mappings()
        .one()
    )
    status = REASON_STATUS.get(reason)
    match = [contacts.c.account_id == account_id, contacts.c.email == key]
    if status is None and reason == "manual":  # as for a new contact: unsubscribed, but a
        status = "unsubscribed"  # bounced or complained status says more and stays
        match.append(contacts.c.status == "subscribed")
    if status is not None:
        update = contacts.update().where(*match)
        conn.execute(update.values(status=status, updated_at=sa.func.now()))
    details = {"reason": row["reason"], "source": source}
    audit(conn, account_id, actor, "suppression.add", "suppression", row["suppression_id"], details)
    return dict(row)


def suppressed_emails(
    conn: sa.Connection, account_id: uuid.UUID, emails: Iterable[str]
) -> set[str]:
    """Which of these normalized emails are suppressed, directly or as erased (bulk check)."""
    by_key = {}
    for email in emails:
        by_key[email] = email
        by_key[erased_key(email)] = email
    if not by_key:
        return set()
    rows = conn.execute(
        sa.select(suppressions.c.email).where(
            suppressions.c.account_id == account_id, suppressions.c.email.in_(list(by_key))
        )
    )
    return {by_key[r.email] for r in rows}


def is_erased(conn: sa.Connection, account_id: uuid.UUID, normalized_email: str) -> bool:
    """Does this address have a GDPR erasure tombstone in the account?"""
    found = conn.execute(
        sa.select(erasures.c.erasure_id).where(
            erasures.c.account_id == account_id,
            erasures.c.email_sha256 == email_sha256(normalized_email),
        )
    ).first()
    return found is not None


def suppression_status(
    conn: sa.Connection, account_id: uuid.UUID, normalized_email: str
) -> str | None:
    """The contact status a suppression of this address imposes, None if it is not suppressed.

    The same rule as the CSV import: bounce → bounced, complaint → complained, any other reason
    (unsubscribe, manual, erasure) → unsubscribed.
    """
    reason = conn.execute(
        sa.select(suppressions.c.reason)
        .where(
            suppressions.c.account_id == account_id,
            suppressions.c.email.in_([normalized_email, erased_key(normalized_email)]),
        )
        .order_by(suppressions.c.suppression_id)
    ).scalar()
    if reason is None:
        return None
    return REASON_STATUS.get(reason, "unsubscribed")


def can_send(conn: sa.Connection, account_id: uuid.UUID, contact: int | str) -> tuple[bool, str]:
    """May we email this contact (id or email address)? `(False, reason)` when not.

    False when there is no such contact in the account, its status is not `subscribed`, its
    address is suppressed, or the address was erased. Every sender path must call this.
    """
    if isinstance(contact, str):
        try:
            where = contacts.c.email == normalize_email(contact)
        except InvalidEmail as exc:
            return False, f"invalid email: {exc}"
    else:
        where = contacts.c.contact_id == contact
    row = conn.execute(
        sa.select(contacts.c.email, contacts.c.status).where(
            contacts.c.account_id == account_id, where
        )
    ).one_or_none()
    if row is None:
        return False, "no such contact"
    if row.status != "subscribed":
        return False, f"contact status is {row.status}"
    digest = email_sha256(row.email)
    reason = conn.execute(
        sa.select(suppressions.c.reason).where(
            suppressions.c.account_id == account_id,
            suppressions.c.email.in_([row.email, ERASED_PREFIX + digest]),
        )
    ).scalar()
    if reason is not None:
        return False, f"suppressed ({reason})"
    erased = conn.execute(
        sa.select(erasures.c.erasure_id).where(
            erasures.c.account_id == account_id, erasures.c.email_sha256 == digest
        )
    ).first()
    if erased is not None:
        return False, "address was erased (GDPR)"
    return True, "ok"
