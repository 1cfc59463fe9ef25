"""Secrets at rest: Fernet (AES-128-CBC + HMAC-SHA256) keyed from MURMUR_SECRET_KEY.

The Fernet key is derived with HKDF-SHA256 per purpose, so one secret can protect several kinds
of data without one kind's ciphertext ever decrypting as another's.
"""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

MIN_SECRET_LENGTH = 16


class CryptoError(ValueError):
    """No usable secret key, or data that does not decrypt with it."""


def _fernet(secret: str, purpose: str) -> Fernet:
    if not secret or len(secret) < MIN_SECRET_LENGTH:
        raise CryptoError(
            f"MURMUR_SECRET_KEY must be set to at least {MIN_SECRET_LENGTH} characters "
            "(e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`)"
        )
    kdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose.encode())
    return Fernet(base64.urlsafe_b64encode(kdf.derive(secret.encode())))


def encrypt(secret: str, purpose: str, plaintext: bytes) -> str:
    return _fernet(secret, purpose).encrypt(plaintext).decode()


def decrypt(secret: str, purpose: str, token: str) -> bytes:
    try:
        return _fernet(secret, purpose).decrypt(token.encode())
    except InvalidToken:
        raise CryptoError(
            f"cannot decrypt the stored {purpose}: MURMUR_SECRET_KEY differs from the one "
            "it was encrypted with"
        ) from None
