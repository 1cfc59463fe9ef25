"""Local webhook signing keys and secrets, generated once under the state dir.

`murmur stack up` creates them for the receiver; `murmur stack env` exports them so that a
newcomer (and the ESP simulator, and tests) can sign a webhook. The SendGrid private key stays in
the state dir (`keys/sendgrid_private.pem`) for whoever signs test payloads.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

KEYS_DIR = "keys"
SENDGRID_PRIVATE_KEY = "sendgrid_private.pem"
_SECRETS_FILE = "webhook_secrets.json"


def keys_dir(state_dir: Path) -> Path:
    return state_dir / KEYS_DIR


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path.with_suffix(".tmp"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    path.with_suffix(".tmp").replace(path)


def ensure_keys(state_dir: Path) -> dict[str, str]:
    """Create the keys if missing (idempotent); return `MURMUR_*` variable → value."""
    directory = keys_dir(state_dir)
    pem_path = directory / SENDGRID_PRIVATE_KEY
    if not pem_path.exists():
        key = ec.generate_private_key(ec.SECP256R1())
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        _write_private(pem_path, pem)
    secrets_path = directory / _SECRETS_FILE
    if not secrets_path.exists():
        values = {
            "MURMUR_MAILGUN_WEBHOOK_SIGNING_KEY": secrets.token_hex(32),
            "MURMUR_WEBHOOK_BASIC_AUTH": f"murmur:{secrets.token_urlsafe(24)}",
            "MURMUR_TRACKING_SECRET": secrets.token_urlsafe(32),
        }
        _write_private(secrets_path, json.dumps(values, indent=2).encode())
    return read_keys(state_dir)


def read_keys(state_dir: Path) -> dict[str, str]:
    """The generated keys as `MURMUR_*` variables ({} before the first `stack up`)."""
    directory = keys_dir(state_dir)
    try:
        pem = (directory / SENDGRID_PRIVATE_KEY).read_bytes()
        values = json.loads((directory / _SECRETS_FILE).read_text())
    except (OSError, ValueError):
        return {}
    private = serialization.load_pem_private_key(pem, password=None)
    der = private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return {
        "MURMUR_SENDGRID_WEBHOOK_PUBLIC_KEY": base64.b64encode(der).decode(),
        **{str(k): str(v) for k, v in values.items()},
    }
