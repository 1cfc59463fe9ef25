"""Append-only audit log (the table's trigger rejects UPDATE/DELETE). Never store raw PII here."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa

from murmur.db.tables import audit_log


def audit(
    conn: sa.Connection,
    account_id: uuid.UUID,
    actor: str,
    action: str,
    object_type: str | None = None,
    object_id: object = None,
    details: dict[str, Any] | None = None,
) -> None:
    conn.execute(
        audit_log.insert().values(
            account_id=account_id,
            actor=actor,
            action=action,
            object_type=object_type,
            object_id=None if object_id is None else str(object_id),
            details=details or {},
        )
    )
