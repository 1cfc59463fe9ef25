"""Contact create and update rules, shared by the API, the CLI and the event consumers.

- An address is unique in the account, and an erased address (GDPR tombstone) is refused until
  an admin lifts its erasure; both are checked under the address lock (see
  `murmur.domain.suppression`), so an erasure racing a create or a rename always wins.
- A new contact is `subscribed` unless its address is suppressed: then the suppression's status
  (bounce → bounced, complaint → complained, otherwise unsubscribed). The CSV import applies the
  same rule set-based (`suppression.status_for_reason_sql`).
- A status other than `subscribed` adds the matching suppression; `subscribed` is refused while
  the address is suppressed (no resubscribe behind the list's back).
- Every change is audited with field names only, never values.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from ipaddress import IPv4Address, IPv6Address
from typing import Any

import sqlalchemy as sa

from murmur.db.tables import contacts
from murmur.domain.audit import audit
from murmur.domain.consent import record_consent
from murmur.domain.errors import Conflict, InvalidInput, NotFound
from murmur.domain.suppression import (
    CONTACT_STATUSES,
    ERASED,
    REASON_STATUS,
    ContactStatus,
    is_erased,
    lock_address,
    suppress,
    suppressed_emails,
    suppression_status,
)
from murmur.email_address import InvalidEmail, normalize_email

STATUSES = CONTACT_STATUSES
STATUS_REASON: dict[str, str] = {status: reason for reason, status in REASON_STATUS.items()}
FIELDS = ("email", "first_name", "last_name", "custom_fields")
NOT_NULL = ("email", "custom_fields", "status")
TAKEN = "a contact with this email already exists"
RESUBSCRIBE = "cannot resubscribe a suppressed address; delete its suppression first"
_LOCK_RETRIES = 5


@dataclass(frozen=True)
class Consent:
    source: str
    at: datetime | None = None
    ip: IPv4Address | IPv6Address | None = None


def _normalized(email: object) -> str:
    if not isinstance(email, str):
        raise InvalidInput("must be a string", "email")
    try:
        return normalize_email(email)
    except InvalidEmail as exc:
        raise InvalidInput(f"invalid email address: {exc}", "email") from None


def _by_id(account_id: uuid.UUID, contact_id: int) -> tuple[sa.ColumnElement[bool], ...]:
    return contacts.c.account_id == account_id, contacts.c.contact_id == contact_id


def get_contact(conn: sa.Connection, account_id: uuid.UUID, contact_id: int) -> dict[str, Any]:
    """The contact row, or NotFound (another account's contact is not found either)."""
    row = conn.execute(sa.select(contacts).where(*_by_id(account_id, contact_id))).mappings()
    found = row.one_or_none()
    if found is None:
        raise NotFound.of("contact", contact_id)
    return dict(found)


def check_new_address(conn: sa.Connection, account_id: uuid.UUID, email: str) -> None:
    """Conflict if the address is taken by another contact or was erased (hold its lock)."""
    taken = sa.select(contacts.c.contact_id).where(
        contacts.c.account_id == account_id, contacts.c.email == email
    )
    if conn.execute(taken).first() is not None:
        raise Conflict(TAKEN, "email")
    if is_erased(conn, account_id, email):
        raise Conflict(ERASED, "email")


def create_contact(
    conn: sa.Connection,
    account_id: uuid.UUID,
    actor: str,
    fields: dict[str, Any],
    consent: Consent | None = None,
) -> dict[str, Any]:
    """Create one contact (keys of `fields`: FIELDS) and return its row; see the module rules."""
    unknown = sorted(set(fields) - set(FIELDS))
    if unknown:
        raise InvalidInput("unknown field", unknown[0])
    email = _normalized(fields.get("email"))
    lock_address(conn, account_id, email)
    check_new_address(conn, account_id, email)
    status = suppression_status(conn, account_id, email) or "subscribed"
    insert = contacts.insert().values(
        {**fields, "account_id": account_id, "email": email, "status": status}
    )
    contact_id = conn.execute(insert.returning(contacts.c.contact_id)).scalar_one()
    audit(conn, account_id, actor, "contact.create", "contact", contact_id)
    if consent is not None:
        record_consent(conn, account_id, contact_id, consent.source, consent.at, consent.ip, actor)
    return get_contact(conn, account_id, contact_id)


def _lock_row(
    conn: sa.Connection, account_id: uuid.UUID, contact_id: int, new_email: str | None
) -> dict[str, Any]:
    """Lock the contact's address (and the new one), then its row: the erasure's lock order."""
    for _ in range(_LOCK_RETRIES):
        email = get_contact(conn, account_id, contact_id)["email"]
        lock_address(conn, account_id, email, *([new_email] if new_email else []))
        query = sa.select(contacts).where(*_by_id(account_id, contact_id)).with_for_update()
        row = conn.execute(query).mappings().one_or_none()
        if row is None:
            raise NotFound.of("contact", contact_id)
        if row["email"] == email:
            return dict(row)
    raise Conflict(f"contact {contact_id} keeps changing its address; retry")


def update_contact(
    conn: sa.Connection,
    account_id: uuid.UUID,
    actor: str,
    contact_id: int,
    changes: dict[str, Any],
) -> dict[str, Any]:
    """Apply `changes` (FIELDS and `status`; `custom_fields` is replaced whole); return the row.

    A new email follows the create rules: Conflict if taken or erased; if it is suppressed, a
    subscribed contact takes the suppression's status.
    """
    values = dict(changes)
    for field in values:
        if field not in (*FIELDS, "status"):
            raise InvalidInput("unknown field", field)
        if field in NOT_NULL and values[field] is None:
            raise InvalidInput("must not be null", field)
    status: ContactStatus | None = values.pop("status", None)
    if status is not None and status not in STATUSES:
        raise InvalidInput(f"must be one of {', '.join(STATUSES)}", "status")
    new = _normalized(values["email"]) if "email" in values else None
    current = _lock_row(conn, account_id, contact_id, new)
    email = new or current["email"]
    if new is not None:
        values["email"] = new
    if email != current["email"]:
        check_new_address(conn, account_id, email)
        if status is None and current["status"] == "subscribed":
            imposed = suppression_status(conn, account_id, email)
            if imposed is not None:
                values["status"] = imposed
    if status == "subscribed":
        if suppressed_emails(conn, account_id, [email]):
            raise Conflict(f"status: {RESUBSCRIBE}")
        values["status"] = status
    if values:
        update = contacts.update().where(*_by_id(account_id, contact_id))
        conn.execute(update.values(**values, updated_at=sa.func.now()))
    if status in STATUS_REASON:
        suppress(conn, account_id, email, STATUS_REASON[status], "api", actor)
    changed = sorted({*values, *(["status"] if status else [])})
    audit(conn, account_id, actor, "contact.update", "contact", contact_id, {"fields": changed})
    return get_contact(conn, account_id, contact_id)


def delete_contact(conn: sa.Connection, account_id: uuid.UUID, actor: str, contact_id: int) -> None:
    """Delete the contact row (its suppressions stay; erasure is `domain.gdpr`)."""
    done = conn.execute(contacts.delete().where(*_by_id(account_id, contact_id)))
    if done.rowcount == 0:
        raise NotFound.of("contact", contact_id)
    audit(conn, account_id, actor, "contact.delete", "contact", contact_id)
