"""DKIM keys per sending domain: generate, store encrypted, load, and the DNS record to publish."""

from __future__ import annotations

import base64
import re
import uuid
from dataclasses import dataclass

import sqlalchemy as sa
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from sqlalchemy.dialects.postgresql import insert

from murmur.crypto import decrypt, encrypt
from murmur.db.tables import dkim_keys

ALGORITHMS = ("rsa", "ed25519")
RSA_BITS = 2048
PURPOSE = "dkim-private-key"
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")

PrivateKey = rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey


class DkimError(ValueError):
    """A bad domain, selector or algorithm."""


@dataclass(frozen=True)
class DkimKey:
    domain: str
    selector: str
    algorithm: str
    private_key: PrivateKey
    public_key: str  # base64, as in the DNS record's p= tag


def check_domain(domain: str) -> str:
    name = domain.strip().rstrip(".").lower()
    labels = name.split(".")
    if len(labels) < 2 or not all(_LABEL.match(label) for label in labels):
        raise DkimError(f"not a domain name: {domain!r}")
    return name


def check_selector(selector: str) -> str:
    if not all(_LABEL.match(label) for label in selector.lower().split(".")):
        raise DkimError(f"not a valid DKIM selector: {selector!r}")
    return selector.lower()


def generate(algorithm: str) -> tuple[PrivateKey, str]:
    """A new private key and its public key as the record's base64 `p=` value."""
    if algorithm == "rsa":
        key: PrivateKey = rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)
        der = key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return key, base64.b64encode(der).decode()
    if algorithm == "ed25519":
        ed = ed25519.Ed25519PrivateKey.generate()
        raw = ed.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        return ed, base64.b64encode(raw).decode()
    raise DkimError(f"algorithm must be one of {', '.join(ALGORITHMS)}, got {algorithm!r}")


def dns_record(domain: str, selector: str, algorithm: str, public_key: str) -> str:
    """The TXT record to publish: `S._domainkey.DOMAIN TXT "v=DKIM1; k=…; p=…"`."""
    return f'{selector}._domainkey.{domain} TXT "{dns_value(algorithm, public_key)}"'


def dns_value(algorithm: str, public_key: str) -> str:
    return f"v=DKIM1; k={algorithm}; p={public_key}"


def _pem(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def store_key(
    conn: sa.Connection,
    account_id: uuid.UUID,
    domain: str,
    selector: str,
    algorithm: str,
    secret: str,
) -> DkimKey:
    """Generate a key for (domain, selector), replacing an older one there; stored encrypted."""
    domain, selector = check_domain(domain), check_selector(selector)
    key, public = generate(algorithm)
    values = {
        "account_id": account_id,
        "domain": domain,
        "selector": selector,
        "algorithm": algorithm,
        "private_key_encrypted": encrypt(secret, PURPOSE, _pem(key)),
        "public_key": public,
    }
    stmt = insert(dkim_keys).values(**values)
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=[dkim_keys.c.account_id, dkim_keys.c.domain, dkim_keys.c.selector],
            set_={k: stmt.excluded[k] for k in ("algorithm", "private_key_encrypted", "public_key")}
            | {"created_at": sa.func.now()},
        )
    )
    return DkimKey(domain, selector, algorithm, key, public)


def load_key(
    conn: sa.Connection, account_id: uuid.UUID, domain: str, secret: str
) -> DkimKey | None:
    """The newest key of the sending domain, decrypted; None when the domain has none."""
    row = conn.execute(
        sa.select(dkim_keys)
        .where(dkim_keys.c.account_id == account_id, dkim_keys.c.domain == domain.lower())
        .order_by(dkim_keys.c.created_at.desc(), dkim_keys.c.dkim_key_id.desc())
        .limit(1)
    ).one_or_none()
    if row is None:
        return None
    key = serialization.load_pem_private_key(
        decrypt(secret, PURPOSE, row.private_key_encrypted), None
    )
    if not isinstance(key, rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey):
        raise DkimError(f"stored key for {domain} is neither RSA nor Ed25519")
    return DkimKey(row.domain, row.selector, row.algorithm, key, row.public_key)
