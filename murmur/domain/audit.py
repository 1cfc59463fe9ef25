"""Append-only audit log (the table's trigger rejects UPDATE/DELETE). Never store raw PII here.

Every write goes through `audit_insert` (or `audit`), which redacts email addresses in every
free-text value (actor, object id, every string in `details`, keys included): an address becomes
`sha256:<hex of the lower-cased address>`, so an erasure leaves no raw address in the log.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from typing import Any

import sqlalchemy as sa

from murmur.db.tables import audit_log

# Anything shaped like local@domain.tld, generous on purpose (quoted input, IDNs, `+` tags).
_PART = r"[^\s@<>()\[\]\\,;:\"'`]+"
_ADDRESS = re.compile(rf"{_PART}@{_PART}\.{_PART}")


def _digest(match: re.Match[str]) -> str:
    return "sha256:" + hashlib.sha256(match.group(0).lower().encode()).hexdigest()


def redact(value: Any) -> Any:
    """`value` with every email address in its strings replaced by `sha256:<hex>`."""
    if isinstance(value, str):
        return _ADDRESS.sub(_digest, value) if "@" in value else value
    if isinstance(value, dict):
        return {redact(str(k)): redact(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    return value


def audit_insert(
    account_id: uuid.UUID,
    actor: str,
    action: str,
    object_type: str | None = None,
    object_id: object = None,
    details: dict[str, Any] | None = None,
) -> sa.Insert:
    """The INSERT of one audit entry, redacted (for callers on a raw driver connection)."""
    return audit_log.insert().values(
        account_id=account_id,
        actor=redact(actor),
        action=action,
        object_type=object_type,
        object_id=None if object_id is None else redact(str(object_id)),
        details=redact(details or {}),
    )


def audit(
    conn: sa.Connection,
    account_id: uuid.UUID,
    actor: str,
    action: str,
    object_type: str | None = None,
    object_id: object = None,
    details: dict[str, Any] | None = None,
) -> None:
    conn.execute(audit_insert(account_id, actor, action, object_type, object_id, details))
