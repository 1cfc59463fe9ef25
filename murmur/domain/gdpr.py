"""GDPR subject access (export) and right to be forgotten (erasure)."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from murmur.db.tables import audit_log, contacts, emails, erasures, suppressions
from murmur.domain.audit import audit
from murmur.domain.suppression import ERASED_PREFIX, email_sha256

# Import error reports quote raw cells: drop every reported row that held the address.
_DELETE_IMPORT_ERRORS = sa.text(
    """
    delete from import_errors e
    using (
        select distinct x.import_id, x.row_number
        from import_errors x
        join import_jobs j on j.import_id = x.import_id
        where j.account_id = :account_id and lower(btrim(x.value)) = :email
    ) hit
    where e.import_id = hit.import_id and e.row_number = hit.row_number
    """
)


_IMPORT_ERRORS = sa.text(
    """
    select x.import_id, x.row_number, x.column_name, x.reason, x.value
    from import_errors x
    join import_jobs j on j.import_id = x.import_id
    where j.account_id = :account_id and lower(btrim(x.value)) = :email
    order by j.created_at, x.row_number
    """
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
        "import_errors": [
            dict(r)
            for r in conn.execute(
                _IMPORT_ERRORS, {"account_id": account_id, "email": contact["email"]}
            ).mappings()
        ],
    }


def erase_contact(
    conn: sa.Connection, account_id: uuid.UUID, contact_id: int, actor: str
) -> dict[str, Any] | None:
    """Erase the contact's personal data; idempotent. None if the contact never existed.

    Deletes the contact row, its suppressions and the import error-report rows quoting the
    address, clears ledger error texts (they may quote the address; ledger rows keep only ids),
    records an `erasures` tombstone and an `erasure` suppression keyed `sha256:<hex>`, and audits
    `contact.erase`. A repeated call returns the first call's result from the audit log.
    """
    contact = conn.execute(
        sa.select(contacts.c.email)
        .where(contacts.c.account_id == account_id, contacts.c.contact_id == contact_id)
        .with_for_update()
    ).one_or_none()
    if contact is None:
        return _previous_erasure(conn, account_id, contact_id)
    digest = email_sha256(contact.email)
    conn.execute(
        suppressions.delete().where(
            suppressions.c.account_id == account_id, suppressions.c.email == contact.email
        )
    )
    stmt = insert(suppressions).values(
        account_id=account_id, email=ERASED_PREFIX + digest, reason="erasure", source="gdpr"
    )
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=[suppressions.c.account_id, suppressions.c.email],
            set_={"reason": "erasure", "source": "gdpr"},
        )
    )
    tomb = insert(erasures).values(account_id=account_id, email_sha256=digest, actor=actor)
    conn.execute(tomb.on_conflict_do_nothing())
    erased_at = conn.execute(
        sa.select(erasures.c.erased_at).where(
            erasures.c.account_id == account_id, erasures.c.email_sha256 == digest
        )
    ).scalar_one()
    conn.execute(
        emails.update()
        .where(
            emails.c.account_id == account_id,
            emails.c.contact_id == contact_id,
            emails.c.error.is_not(None),
        )
        .values(error="[erased]")
    )
    conn.execute(_DELETE_IMPORT_ERRORS, {"account_id": account_id, "email": contact.email})
    conn.execute(contacts.delete().where(contacts.c.contact_id == contact_id))
    result = {"contact_id": contact_id, "email_sha256": digest, "erased_at": erased_at.isoformat()}
    audit(conn, account_id, actor, "contact.erase", "contact", contact_id, result)
    return result


def _previous_erasure(
    conn: sa.Connection, account_id: uuid.UUID, contact_id: int
) -> dict[str, Any] | None:
    details = conn.execute(
        _contact_audit(account_id, contact_id)
        .with_only_columns(audit_log.c.details)
        .where(audit_log.c.action == "contact.erase")
    ).scalar()
    return dict(details) if details is not None else None
