"""Accounts and API keys: `mm_<prefix>_<secret>`, stored as a unique prefix + sha256(secret)."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, get_args

import sqlalchemy as sa

from murmur.db.tables import accounts, api_keys, users
from murmur.domain.audit import audit

Role = Literal["viewer", "editor", "admin"]
ROLES: tuple[str, ...] = get_args(Role)
ROLE_RANK = {role: rank for rank, role in enumerate(ROLES)}
KEY_SCHEME = "mm"
LAST_USED_RESOLUTION = timedelta(minutes=1)


class LastAdminKey(ValueError):
    """Revoking this key would leave the account without an active admin key."""


@dataclass(frozen=True)
class KeyRecord:
    """An active API key after successful verification."""

    api_key_id: int
    account_id: uuid.UUID
    role: str


def create_account(conn: sa.Connection, name: str, actor: str = "cli", **fields: Any) -> uuid.UUID:
    """Insert an account; `fields` are optional account columns (postal_address, ...)."""
    row = conn.execute(
        accounts.insert().values(name=name, **fields).returning(accounts.c.account_id)
    ).one()
    account_id: uuid.UUID = row.account_id
    audit(conn, account_id, actor, "account.create", "account", account_id)
    return account_id


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_api_key(
    conn: sa.Connection,
    account_id: uuid.UUID,
    role: str,
    name: str | None = None,
    actor: str = "cli",
) -> tuple[dict[str, Any], str]:
    """Create a key; returns (its row without the hash, the full key shown only once)."""
    if role not in ROLE_RANK:
        raise ValueError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    row = (
        conn.execute(
            api_keys.insert()
            .values(
                account_id=account_id,
                role=role,
                name=name,
                prefix=prefix,
                secret_hash=_hash(secret),
            )
            .returning(*public_key_columns())
        )
        .mappings()
        .one()
    )
    audit(conn, account_id, actor, "api_key.create", "api_key", row["api_key_id"], {"role": role})
    return dict(row), f"{KEY_SCHEME}_{prefix}_{secret}"


def public_key_columns() -> list[sa.Column[Any]]:
    return [c for c in api_keys.c if c.name != "secret_hash"]


def verify_api_key(conn: sa.Connection, key: str) -> KeyRecord | None:
    """The key's record if it is well-formed, known, unrevoked and its secret matches."""
    scheme, _, rest = key.partition("_")
    prefix, _, secret = rest.partition("_")
    if scheme != KEY_SCHEME or not prefix or not secret or len(key) > 200:
        return None
    row = conn.execute(
        sa.select(
            api_keys.c.api_key_id,
            api_keys.c.account_id,
            api_keys.c.role,
            api_keys.c.secret_hash,
            api_keys.c.last_used_at,
        ).where(api_keys.c.prefix == prefix, api_keys.c.revoked_at.is_(None))
    ).one_or_none()
    if row is None or not hmac.compare_digest(row.secret_hash, _hash(secret)):
        return None
    now = datetime.now(UTC)
    if row.last_used_at is None or now - row.last_used_at >= LAST_USED_RESOLUTION:
        conn.execute(
            api_keys.update()
            .where(api_keys.c.account_id == row.account_id, api_keys.c.api_key_id == row.api_key_id)
            .values(last_used_at=sa.func.now())
        )
    return KeyRecord(row.api_key_id, row.account_id, row.role)


def revoke_api_key(
    conn: sa.Connection,
    *,
    prefix: str | None = None,
    api_key_id: int | None = None,
    account_id: uuid.UUID | None = None,
    actor: str = "cli",
    keep_last_admin: bool = False,
) -> dict[str, Any] | None:
    """Revoke by prefix or id (optionally scoped to an account); idempotent; None if unknown.

    With `keep_last_admin` (the API), LastAdminKey instead of revoking the account's last
    active admin key: the account's active admin keys are locked first, so two admins
    revoking each other's keys at once cannot both succeed.
    """
    where = [api_keys.c.prefix == prefix] if prefix else [api_keys.c.api_key_id == api_key_id]
    if account_id is not None:
        where.append(api_keys.c.account_id == account_id)
    if keep_last_admin:
        _refuse_last_admin(conn, where)
    row = (
        conn.execute(
            api_keys.update()
            .where(*where)
            .values(revoked_at=sa.func.coalesce(api_keys.c.revoked_at, sa.func.now()))
            .returning(*public_key_columns())
        )
        .mappings()
        .one_or_none()
    )
    if row is not None:
        audit(conn, row["account_id"], actor, "api_key.revoke", "api_key", row["api_key_id"])
    return dict(row) if row is not None else None


def account_exists(conn: sa.Connection, account_id: uuid.UUID) -> bool:
    """True when an account with this id exists."""
    found = conn.execute(
        sa.select(accounts.c.account_id).where(accounts.c.account_id == account_id)
    ).first()
    return found is not None


def find_account_by_name(conn: sa.Connection, name: str) -> uuid.UUID | None:
    """The id of the oldest account named `name` (names are not unique), or None."""
    account_id: uuid.UUID | None = conn.execute(
        sa.select(accounts.c.account_id)
        .where(accounts.c.name == name)
        .order_by(accounts.c.created_at, accounts.c.account_id)
        .limit(1)
    ).scalar()
    return account_id


def _refuse_last_admin(conn: sa.Connection, where: list[sa.ColumnElement[bool]]) -> None:
    target = conn.execute(
        sa.select(api_keys.c.account_id, api_keys.c.role, api_keys.c.revoked_at).where(*where)
    ).one_or_none()
    if target is None or target.role != "admin" or target.revoked_at is not None:
        return
    admins = conn.execute(
        sa.select(api_keys.c.api_key_id)
        .where(
            api_keys.c.account_id == target.account_id,
            api_keys.c.role == "admin",
            api_keys.c.revoked_at.is_(None),
        )
        .with_for_update()
    ).all()
    if len(admins) <= 1:
        raise LastAdminKey("this is the account's last active admin key; create another first")


@dataclass(frozen=True)
class UserRecord:
    """A platform user after a successful password check (no hash)."""

    user_id: int
    account_id: uuid.UUID
    email: str
    role: str


class AmbiguousUser(ValueError):
    """The email and password match users of several accounts: the account must be named."""


def verify_user_password(
    conn: sa.Connection, email: str, password: str, account_name: str | None = None
) -> UserRecord | None:
    """The user whose email and password match (argon2), or None.

    Emails are unique per account, not globally: with `account_name`, only that account's user
    is tried; without it, AmbiguousUser when the credentials match users of several accounts.
    A miss still runs one hash verification, so timing does not tell which emails exist.
    """
    from argon2 import PasswordHasher
    from argon2.exceptions import InvalidHashError, VerificationError

    hasher = PasswordHasher()
    query = (
        sa.select(users.c.user_id, users.c.account_id, users.c.email, users.c.role)
        .add_columns(users.c.password_hash)
        .where(sa.func.lower(users.c.email) == email.strip().lower())
        .order_by(users.c.user_id)
        .limit(20)
    )
    if account_name is not None:
        query = query.join(accounts, accounts.c.account_id == users.c.account_id).where(
            accounts.c.name == account_name
        )
    rows = conn.execute(query).all() if email.strip() and len(password) <= 1024 else []
    if not rows:
        with contextlib.suppress(VerificationError, InvalidHashError):
            hasher.verify(_DUMMY_HASH, password[:1024])
        return None
    matches = []
    for row in rows:
        try:
            hasher.verify(row.password_hash, password)
        except (VerificationError, InvalidHashError):
            continue
        matches.append(UserRecord(row.user_id, row.account_id, row.email, row.role))
    if len(matches) > 1:
        raise AmbiguousUser("this email and password match users of several accounts")
    return matches[0] if matches else None


# argon2 hash of a random string: verified against on a miss (see verify_user_password)
_DUMMY_HASH = (
    "$argon2id$v=19$m=65536,t=3,p=4$c29tZXNhbHRzb21lc2FsdA$"
    "n9tWdKYV1QmVAh8ZQ4mfQmq1ebJ7xGq2yDfjH4lJw1g"
)
