"""ESP accounts of a Murmuration account: rules, encrypted credentials, and loading for the sender.

An account sends through its enabled ESPs in `priority` order (lowest first), failing over to
the next when one's circuit opens; an ESP with `sending_domains` only sends campaigns whose From
domain is one of them. Without any configured ESP the platform default from the settings
(`MURMUR_DEFAULT_ESP`: the SMTP relay `MURMUR_SMTP_URL` or Amazon SES `MURMUR_SES_*`) is used.

Credentials are a JSON object encrypted with MURMUR_SECRET_KEY (`murmur.crypto`, purpose
`esp-credentials`) and are never returned: the API shows a redacted hint.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

import sqlalchemy as sa

from murmur.crypto import decrypt, encrypt
from murmur.db.tables import esps
from murmur.domain.dkim import DkimError, check_domain
from murmur.domain.errors import Conflict, InvalidInput, NotFound

EspKind = Literal["smtp", "ses"]
KINDS: tuple[str, ...] = ("smtp", "ses")
PURPOSE = "esp-credentials"
MAX_RATE = 100_000.0
_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,62}$")
SETTINGS_KEYS: dict[str, frozenset[str]] = {
    "smtp": frozenset(),
    "ses": frozenset({"region", "configuration_set", "endpoint_url"}),
}
CREDENTIAL_KEYS: dict[str, frozenset[str]] = {
    "smtp": frozenset({"url"}),
    "ses": frozenset({"access_key_id", "secret_access_key"}),
}


@dataclass(frozen=True)
class EspAccount:
    """One ESP ready for the sender: decrypted credentials included (never logged)."""

    esp_id: int | None  # None: the platform default
    label: str
    kind: str
    priority: int
    rate_limit: float | None
    sending_domains: tuple[str, ...]
    settings: dict[str, Any]
    credentials: dict[str, Any]

    def serves(self, from_domain: str) -> bool:
        return not self.sending_domains or from_domain.lower() in self.sending_domains


def check_name(name: str) -> str:
    if not _NAME.match(name):
        raise InvalidInput(
            "name must be 1-63 lower-case letters, digits, '.', '_' or '-', starting with a "
            "letter or digit",
            "name",
        )
    return name


def check_domains(domains: list[str]) -> list[str]:
    out: list[str] = []
    for i, domain in enumerate(domains):
        try:
            out.append(check_domain(domain))
        except DkimError as exc:
            raise InvalidInput(str(exc), ("sending_domains", str(i))) from None
    return sorted(set(out))


def check_settings(kind: str, settings: dict[str, Any]) -> dict[str, Any]:
    extra = set(settings) - SETTINGS_KEYS[kind]
    if extra:
        allowed = ", ".join(sorted(SETTINGS_KEYS[kind])) or "none"
        raise InvalidInput(
            f"unknown {kind} settings {sorted(extra)} (allowed: {allowed})", "settings"
        )
    for key, value in settings.items():
        if not isinstance(value, str) or not value or len(value) > 500:
            raise InvalidInput(f"{key} must be a non-empty string", ("settings", key))
    endpoint = settings.get("endpoint_url")
    if endpoint and urlsplit(endpoint).scheme not in ("http", "https"):
        raise InvalidInput("endpoint_url must be an http(s) URL", ("settings", "endpoint_url"))
    return settings


def check_credentials(kind: str, credentials: dict[str, Any]) -> dict[str, Any]:
    keys = set(credentials)
    if keys - CREDENTIAL_KEYS[kind]:
        allowed = ", ".join(sorted(CREDENTIAL_KEYS[kind]))
        unknown = sorted(keys - CREDENTIAL_KEYS[kind])
        raise InvalidInput(
            f"unknown {kind} credentials {unknown} (allowed: {allowed})",
            "credentials",
        )
    for key, value in credentials.items():
        if not isinstance(value, str) or not value or len(value) > 2000:
            raise InvalidInput(f"{key} must be a non-empty string", ("credentials", key))
    if kind == "smtp":
        url = credentials.get("url")
        parts = urlsplit(url or "")
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise InvalidInput(
                "an smtp ESP needs credentials.url = smtp://user:pass@host:port (or smtps://)",
                ("credentials", "url"),
            )
        try:
            _ = parts.port
        except ValueError:
            raise InvalidInput("bad port in credentials.url", ("credentials", "url")) from None
    if kind == "ses" and len(keys) == 1:
        raise InvalidInput(
            "give both access_key_id and secret_access_key, or neither (the default AWS chain)",
            "credentials",
        )
    return credentials


def hint(kind: str, credentials: dict[str, Any] | None) -> str | None:
    """What the API shows instead of the credentials."""
    if not credentials:
        return None
    if kind == "smtp":
        parts = urlsplit(str(credentials["url"]))
        user = f"{parts.username}:***@" if parts.username else ""
        return f"{parts.scheme}://{user}{parts.hostname}:{parts.port or ''}".rstrip(":")
    key_id = str(credentials.get("access_key_id", ""))
    return f"access key …{key_id[-4:]}" if key_id else None


def seal(secret: str, credentials: dict[str, Any]) -> str:
    try:
        return encrypt(secret, PURPOSE, json.dumps(credentials, sort_keys=True).encode())
    except ValueError as exc:  # no usable MURMUR_SECRET_KEY: say so, store nothing
        raise InvalidInput(str(exc), "credentials") from None


def unseal(secret: str, token: str | None) -> dict[str, Any]:
    if not token:
        return {}
    data = json.loads(decrypt(secret, PURPOSE, token))
    return data if isinstance(data, dict) else {}


def public(row: dict[str, Any], secret: str) -> dict[str, Any]:
    """The row as the API returns it: no ciphertext, a redacted hint."""
    out = {k: v for k, v in row.items() if k != "credentials_encrypted"}
    out["has_credentials"] = bool(row.get("credentials_encrypted"))
    try:
        out["credentials_hint"] = hint(
            row["kind"], unseal(secret, row.get("credentials_encrypted"))
        )
    except ValueError:
        out["credentials_hint"] = "unreadable with the current MURMUR_SECRET_KEY"
    return out


def create_esp(
    conn: sa.Connection, account_id: uuid.UUID, values: dict[str, Any], secret: str
) -> dict[str, Any]:
    kind = values["kind"]
    row = {
        "name": check_name(values["name"]),
        "kind": kind,
        "priority": values.get("priority", 100),
        "rate_limit": values.get("rate_limit"),
        "sending_domains": check_domains(values.get("sending_domains") or []),
        "settings": check_settings(kind, values.get("settings") or {}),
        "enabled": values.get("enabled", True),
    }
    credentials = check_credentials(kind, values.get("credentials") or {})
    if kind == "smtp" and not credentials:
        check_credentials(kind, {"url": ""})  # raises the "needs credentials.url" error
    row["credentials_encrypted"] = seal(secret, credentials) if credentials else None
    _unique_name(conn, account_id, row["name"], None)
    inserted = conn.execute(
        esps.insert().values(account_id=account_id, **row).returning(*esps.c)
    ).mappings()
    return dict(inserted.one())


def update_esp(
    conn: sa.Connection,
    account_id: uuid.UUID,
    esp_id: int,
    changes: dict[str, Any],
    secret: str,
) -> dict[str, Any]:
    current = (
        conn.execute(
            sa.select(esps)
            .where(esps.c.account_id == account_id, esps.c.esp_id == esp_id)
            .with_for_update()
        )
        .mappings()
        .one_or_none()
    )
    if current is None:
        raise NotFound.of("esp", esp_id)
    kind = current["kind"]
    values: dict[str, Any] = {}
    for key in ("name", "priority", "enabled"):
        if key in changes and changes[key] is None:
            raise InvalidInput(f"{key} cannot be null", key)
    if "name" in changes:
        values["name"] = check_name(changes["name"])
        _unique_name(conn, account_id, values["name"], esp_id)
    for key in ("priority", "rate_limit", "enabled"):
        if key in changes:
            values[key] = changes[key]
    if "sending_domains" in changes:
        values["sending_domains"] = check_domains(changes["sending_domains"] or [])
    if "settings" in changes:
        values["settings"] = check_settings(kind, changes["settings"] or {})
    if "credentials" in changes:
        credentials = check_credentials(kind, changes["credentials"] or {})
        if kind == "smtp" and not credentials:
            check_credentials(kind, {"url": ""})
        values["credentials_encrypted"] = seal(secret, credentials) if credentials else None
    if not values:
        return dict(current)
    values["updated_at"] = sa.func.now()
    updated = conn.execute(
        esps.update()
        .where(esps.c.account_id == account_id, esps.c.esp_id == esp_id)
        .values(**values)
        .returning(*esps.c)
    ).mappings()
    return dict(updated.one())


def _unique_name(conn: sa.Connection, account_id: uuid.UUID, name: str, esp_id: int | None) -> None:
    query = sa.select(esps.c.esp_id).where(esps.c.account_id == account_id, esps.c.name == name)
    if esp_id is not None:
        query = query.where(esps.c.esp_id != esp_id)
    if conn.execute(query).first() is not None:
        raise Conflict(f"an ESP named {name!r} already exists in this account", "name")


def account_esps(
    conn: sa.Connection, account_id: uuid.UUID, from_domain: str, secret: str
) -> list[EspAccount]:
    """The enabled ESPs that serve `from_domain`, in failover order (credentials decrypted)."""
    rows = conn.execute(
        sa.select(esps)
        .where(esps.c.account_id == account_id, esps.c.enabled)
        .order_by(esps.c.priority, esps.c.esp_id)
    ).mappings()
    found = []
    for row in rows:
        account = EspAccount(
            esp_id=row["esp_id"],
            label=row["name"],
            kind=row["kind"],
            priority=row["priority"],
            rate_limit=row["rate_limit"],
            sending_domains=tuple(row["sending_domains"] or ()),
            settings=dict(row["settings"] or {}),
            credentials=unseal(secret, row["credentials_encrypted"]),
        )
        if account.serves(from_domain):
            found.append(account)
    return found
