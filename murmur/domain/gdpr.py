"""GDPR subject access (export) and right to be forgotten (erasure)."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from murmur.db.tables import (
    audit_log,
    contacts,
    emails,
    erasures,
    import_errors,
    import_jobs,
    suppressions,
)
from murmur.domain.audit import audit, redact
from murmur.domain.errors import Conflict
from murmur.domain.suppression import ERASED_PREFIX, email_sha256, erasure_gate, lock_address

ERASED_ERROR = "[erased]"
_LOCK_RETRIES = 5


def _quoting_import_errors(account_id: uuid.UUID, email: str) -> sa.Select[Any]:
    """Import error-report rows of the account whose value is the address (raw cells quote it)."""
    return (
        sa.select(import_errors)
        .join(import_jobs, import_jobs.c.import_id == import_errors.c.import_id)
        .where(
            import_jobs.c.account_id == account_id,
            sa.func.lower(sa.func.btrim(import_errors.c.value)) == email,
        )
    )


def _delete_import_errors(account_id: uuid.UUID, email: str) -> sa.Delete:
    """Drop every reported row (all its columns) that held the address."""
    hit = (
        _quoting_import_errors(account_id, email)
        .with_only_columns(import_errors.c.import_id, import_errors.c.row_number)
        .distinct()
        .subquery("hit")
    )
    return import_errors.delete().where(
        import_errors.c.import_id == hit.c.import_id,
        import_errors.c.row_number == hit.c.row_number,
    )


def _rows(conn: sa.Connection, query: sa.Select[Any]) -> list[dict[str, Any]]:
    return [dict(r) for r in conn.execute(query).mappings()]


def _contact_audit(account_id: uuid.UUID, contact_id: int) -> sa.Select[Any]:
    return (
        sa.select(audit_log)
        .where(
            audit_log.c.account_id == account_id,
            audit_log.c.object_type == "contact",
            audit_log.c.object_id == str(contact_id),
        )
        .order_by(audit_log.c.audit_id)
    )


def export_contact(
    conn: sa.Connection, account_id: uuid.UUID, contact_id: int
) -> dict[str, Any] | None:
    """Everything held about the contact: row, suppressions, ledger, audit, import errors."""
    contact = (
        conn.execute(
            sa.select(contacts).where(
                contacts.c.account_id == account_id, contacts.c.contact_id == contact_id
            )
        )
        .mappings()
        .one_or_none()
    )
    if contact is None:
        return None
    keys = [contact["email"], ERASED_PREFIX + email_sha256(contact["email"])]
    return {
        "contact": dict(contact),
        "suppressions": _rows(
            conn,
            sa.select(suppressions).where(
                suppressions.c.account_id == account_id, suppressions.c.email.in_(keys)
            ),
        ),
        "emails": _rows(
            conn,
            sa.select(emails)
            .where(emails.c.account_id == account_id, emails.c.contact_id == contact_id)
            .order_by(emails.c.queued_at),
        ),
        "audit": _rows(conn, _contact_audit(account_id, contact_id)),
        "import_errors": _rows(
            conn,
            _quoting_import_errors(account_id, contact["email"])
            .with_only_columns(
                import_errors.c.import_id,
                import_errors.c.row_number,
                import_errors.c.column_name,
                import_errors.c.reason,
                import_errors.c.value,
            )
            .order_by(import_jobs.c.created_at, import_errors.c.row_number),
        ),
    }


def erase_contact(
    conn: sa.Connection, account_id: uuid.UUID, contact_id: int, actor: str
) -> dict[str, Any] | None:
    """Erase the contact's personal data (see `erase_email`); None if it never existed.

    A repeated call returns the first call's result from the audit log.
    """
    by_id = (contacts.c.account_id == account_id, contacts.c.contact_id == contact_id)
    for _ in range(_LOCK_RETRIES):  # the address is locked first (lock order: address, row)
        email = conn.execute(sa.select(contacts.c.email).where(*by_id)).scalar()
        if email is None:
            return _previous_erasure(conn, account_id, contact_id)
        _lock_for_erasure(conn, account_id, email)
        locked = conn.execute(sa.select(contacts.c.email).where(*by_id).with_for_update()).scalar()
        if locked is None:
            return _previous_erasure(conn, account_id, contact_id)
        if locked == email:
            return erase_email(conn, account_id, email, actor, contact_id)
    raise Conflict(f"contact {contact_id} keeps changing its address; retry the erasure")


def _lock_for_erasure(conn: sa.Connection, account_id: uuid.UUID, email: str) -> None:
    """Hold the account's erasure gate (shared) and the address lock, in that order."""
    conn.execute(erasure_gate(account_id, exclusive=False))
    lock_address(conn, account_id, email)


def erase_email(
    conn: sa.Connection,
    account_id: uuid.UUID,
    email: str,
    actor: str,
    contact_id: int | None = None,
) -> dict[str, Any]:
    """Erase everything the account holds for this normalized address; idempotent.

    Deletes the contact row (found by address unless `contact_id` is given), the address's
    suppressions and the import error-report rows quoting it, replaces ledger error texts of the
    contact or quoting the address with `[erased]` (ledger rows keep only ids), records an
    `erasures` tombstone and an `erasure` suppression keyed `sha256:<hex>`, and audits
    `contact.erase` (hash and ids, never the address) whenever something changed. Works when the
    contact row is already gone. Returns `{contact_id, email_sha256, erased_at}`, the same on
    every repeat: `contact_id` is the erased contact's id, None if there was none.

    Serialized with every write of the address (see `murmur.domain.suppression`): a contact
    created or imported concurrently is either seen and deleted here or refused after.
    """
    _lock_for_erasure(conn, account_id, email)  # (re-entrant: erase_contact holds it already)
    if contact_id is None:
        contact_id = conn.execute(
            sa.select(contacts.c.contact_id)
            .where(contacts.c.account_id == account_id, contacts.c.email == email)
            .with_for_update()
        ).scalar()
    digest = email_sha256(email)
    changed = _delete_held_data(conn, account_id, email, contact_id)
    stmt = insert(suppressions).values(
        account_id=account_id, email=ERASED_PREFIX + digest, reason="erasure", source="gdpr"
    )
    # (insert rowcounts are not reliable here: count returned rows)
    changed += len(
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=[suppressions.c.account_id, suppressions.c.email],
                set_={"reason": "erasure", "source": "gdpr"},
                where=suppressions.c.reason != "erasure",
            ).returning(suppressions.c.suppression_id)
        ).all()
    )
    tomb = insert(erasures).values(account_id=account_id, email_sha256=digest, actor=redact(actor))
    changed += len(
        conn.execute(tomb.on_conflict_do_nothing().returning(erasures.c.erasure_id)).all()
    )
    erased_at = conn.execute(
        sa.select(erasures.c.erased_at).where(
            erasures.c.account_id == account_id, erasures.c.email_sha256 == digest
        )
    ).scalar_one()
    result: dict[str, Any] = {
        "contact_id": contact_id,
        "email_sha256": digest,
        "erased_at": erased_at.isoformat(),
    }
    if contact_id is None:
        result["contact_id"] = _erased_contact_id(conn, account_id, digest, result["erased_at"])
    if changed:
        audit(conn, account_id, actor, "contact.erase", "contact", result["contact_id"], result)
    return result


def _delete_held_data(
    conn: sa.Connection, account_id: uuid.UUID, email: str, contact_id: int | None
) -> int:
    """Delete or blank what quotes the address (and the contact row); how many rows changed."""
    changed = conn.execute(
        suppressions.delete().where(
            suppressions.c.account_id == account_id, suppressions.c.email == email
        )
    ).rowcount
    quoting = sa.func.strpos(sa.func.lower(emails.c.error), email) > 0
    mine = quoting if contact_id is None else sa.or_(emails.c.contact_id == contact_id, quoting)
    changed += conn.execute(
        emails.update()
        .where(
            emails.c.account_id == account_id,
            emails.c.error.is_not(None),
            emails.c.error != ERASED_ERROR,
            mine,
        )
        .values(error=ERASED_ERROR)
    ).rowcount
    changed += conn.execute(_delete_import_errors(account_id, email)).rowcount
    if contact_id is not None:
        changed += conn.execute(
            contacts.delete().where(
                contacts.c.account_id == account_id, contacts.c.contact_id == contact_id
            )
        ).rowcount
    return changed


def _erased_contact_id(
    conn: sa.Connection, account_id: uuid.UUID, digest: str, erased_at: str
) -> int | None:
    """The contact id recorded by the erasure that made this tombstone (None if it had none)."""
    details = conn.execute(
        sa.select(audit_log.c.details)
        .where(
            audit_log.c.account_id == account_id,
            audit_log.c.action == "contact.erase",
            audit_log.c.details["email_sha256"].astext == digest,
            audit_log.c.details["erased_at"].astext == erased_at,
        )
        .order_by(audit_log.c.audit_id)
        .limit(1)
    ).scalar()
    contact_id = details.get("contact_id") if details is not None else None
    return contact_id if isinstance(contact_id, int) else None


def _previous_erasure(
    conn: sa.Connection, account_id: uuid.UUID, contact_id: int
) -> dict[str, Any] | None:
    details = conn.execute(
        _contact_audit(account_id, contact_id)
        .with_only_columns(audit_log.c.details)
        .where(audit_log.c.action == "contact.erase")
    ).scalar()
    return dict(details) if details is not None else None


def lift_erasure(
    conn: sa.Connection, account_id: uuid.UUID, suppression_id: int, key: str, actor: str
) -> None:
    """Delete an `erasure` suppression and its tombstone: the address may be added again.

    For a person who consents again after an erasure. Audited as `erasure.lift` (hash only).
    """
    digest = key.removeprefix(ERASED_PREFIX)
    conn.execute(
        suppressions.delete().where(
            suppressions.c.account_id == account_id,
            suppressions.c.suppression_id == suppression_id,
        )
    )
    conn.execute(
        erasures.delete().where(
            erasures.c.account_id == account_id, erasures.c.email_sha256 == digest
        )
    )
    details = {"reason": "erasure", "email_sha256": digest}
    audit(conn, account_id, actor, "erasure.lift", "suppression", suppression_id, details)
