"""Suppression list and the one gate every sender path calls: `can_send`.

Erased addresses are suppressed by key `sha256:<hex of the normalized email>` so that the raw
address is gone yet a re-import of it stays unsendable.

Erasure must win every race (issue 8): every write that could bring an address back (contact
create or rename, suppression add) takes `lock_address` for it and checks `is_erased` inside its
transaction; an erasure takes the same lock plus the account's erasure gate in shared mode, which
the importer takes exclusively just before it re-checks the tombstones and upserts.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable
from typing import Any, Literal, get_args

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from murmur.db.tables import contacts, erasures, suppressions
from murmur.domain.audit import audit
from murmur.domain.errors import Conflict
from murmur.email_address import InvalidEmail, normalize_email

ContactStatus = Literal["subscribed", "unsubscribed", "bounced", "complained"]
AddableReason = Literal["unsubscribe", "bounce", "complaint", "manual"]
SuppressionReason = Literal[AddableReason, "erasure"]
CONTACT_STATUSES: tuple[ContactStatus, ...] = get_args(ContactStatus)
ADDABLE_REASONS: tuple[AddableReason, ...] = get_args(AddableReason)
REASONS: tuple[SuppressionReason, ...] = get_args(SuppressionReason)
REASON_STATUS: dict[str, ContactStatus] = {
    "unsubscribe": "unsubscribed",
    "bounce": "bounced",
    "complaint": "complained",
}
SUPPRESSED_STATUS: ContactStatus = "unsubscribed"  # what any other reason imposes
ERASED_PREFIX = "sha256:"
ERASED = (
    "this address was erased under GDPR; an admin must lift the erasure first"
    " (DELETE /suppressions/{id} of its `erasure` suppression)"
)
_ERASURE_GATE_SPACE = 1_836_384_258  # first key of the accounts' erasure gates (any int4)


def email_sha256(normalized_email: str) -> str:
    return hashlib.sha256(normalized_email.encode()).hexdigest()


def email_sha256_sql(email: sa.ColumnElement[str]) -> sa.ColumnElement[str]:
    """`email_sha256` in SQL, for set-based matches against `erasures.email_sha256`."""
    utf8: sa.ColumnElement[str] = sa.literal_column("'UTF8'")
    hexa: sa.ColumnElement[str] = sa.literal_column("'hex'")
    return sa.func.encode(sa.func.sha256(sa.func.convert_to(email, utf8)), hexa)


def status_for_reason(reason: str) -> ContactStatus:
    """The contact status a suppression imposes: bounced, complained, else unsubscribed."""
    return REASON_STATUS.get(reason, SUPPRESSED_STATUS)


def status_for_reason_sql(reason: sa.ColumnElement[str]) -> sa.ColumnElement[str]:
    """`status_for_reason` in SQL (the importer's set-based twin of the same rule)."""
    whens = [(reason == r, sa.literal(s)) for r, s in REASON_STATUS.items()]
    return sa.case(*whens, else_=sa.literal(SUPPRESSED_STATUS))


def _address_key(account_id: uuid.UUID, normalized_email: str) -> int:
    digest = hashlib.sha256(f"{account_id}/{normalized_email}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def lock_address(conn: sa.Connection, account_id: uuid.UUID, *normalized_emails: str) -> None:
    """Serialize writes of these addresses in the account until the transaction ends.

    Take it before reading anything the decision depends on (contact rows, tombstones); several
    addresses are locked in a fixed order, so two writers never deadlock on them.
    """
    for key in sorted({_address_key(account_id, e) for e in normalized_emails}):
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(sa.literal(key, sa.BigInteger))))


def erasure_gate(account_id: uuid.UUID, *, exclusive: bool) -> sa.Select[Any]:
    """Lock the account's erasure gate until the transaction ends.

    Erasures hold it shared (they run side by side); the importer holds it exclusively from its
    commit-time tombstone check to its commit, so an erasure either committed before that check
    (and the row is rejected) or starts after the import committed (and erases the imported row).
    """
    lock = sa.func.pg_advisory_xact_lock if exclusive else sa.func.pg_advisory_xact_lock_shared
    return sa.select(
        lock(
            sa.literal(_ERASURE_GATE_SPACE, sa.Integer),
            sa.func.hashtext(sa.literal(str(account_id), sa.Text)),
        )
    )


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
    contact becomes unsubscribed). Raises InvalidEmail, and Conflict for an erased address
    (its raw form must not come back; it is suppressed by hash already).
    """
    if reason not in REASONS:
        raise ValueError(f"reason must be one of {', '.join(REASONS)}, got {reason!r}")
    key = email if email.startswith(ERASED_PREFIX) else normalize_email(email)
    if not key.startswith(ERASED_PREFIX):
        lock_address(conn, account_id, key)
        if is_erased(conn, account_id, key):
            raise Conflict(ERASED, "email")
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
) -> ContactStatus | None:
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
    return status_for_reason(reason)


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
