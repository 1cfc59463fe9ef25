"""Everything a provider handler needs, built once when the app starts (from the settings)."""

from __future__ import annotations

import base64
import binascii
import logging
from dataclasses import dataclass

import httpx
from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePublicKey
from cryptography.hazmat.primitives.serialization import load_der_public_key

from ingestion.providers.sns_certs import CertStore
from ingestion.receiver.replay import TokenStore
from murmur.settings import Settings, SettingsError

log = logging.getLogger(__name__)


@dataclass
class Context:
    max_age_s: int
    basic_auth: str | None
    sendgrid_key: EllipticCurvePublicKey | None
    mailgun_key: bytes | None
    sns_topics: frozenset[str]
    certs: CertStore
    tokens: TokenStore
    http: httpx.AsyncClient

    async def close(self) -> None:
        await self.http.aclose()
        await self.tokens.close()


def sendgrid_public_key(text: str | None) -> EllipticCurvePublicKey | None:
    """The key SendGrid shows (base64 DER SubjectPublicKeyInfo), or PEM; None when unset."""
    if not text:
        return None
    try:
        if "BEGIN PUBLIC KEY" in text:
            from cryptography.hazmat.primitives.serialization import load_pem_public_key

            key = load_pem_public_key(text.encode())
        else:
            key = load_der_public_key(base64.b64decode("".join(text.split()), validate=True))
    except (ValueError, binascii.Error) as exc:
        raise SettingsError(
            f"MURMUR_SENDGRID_WEBHOOK_PUBLIC_KEY is not a public key: {exc}"
        ) from None
    if not isinstance(key, EllipticCurvePublicKey):
        raise SettingsError("MURMUR_SENDGRID_WEBHOOK_PUBLIC_KEY must be an ECDSA (P-256) key")
    return key


def basic_auth(settings: Settings) -> str | None:
    basic = settings.webhook_basic_auth.get_secret_value() if settings.webhook_basic_auth else None
    if basic and ":" not in basic:
        raise SettingsError("MURMUR_WEBHOOK_BASIC_AUTH must look like user:password")
    return basic or None


def check_settings(settings: Settings) -> None:
    """Fail at start (SettingsError naming the variable), not on the first webhook."""
    basic_auth(settings)
    sendgrid_public_key(settings.sendgrid_webhook_public_key)
    if not settings.tracking_secret:
        log.warning("MURMUR_TRACKING_SECRET is not set: tracking links answer 404")


def build_context(settings: Settings) -> Context:
    http = httpx.AsyncClient(timeout=5.0, follow_redirects=False)
    basic = basic_auth(settings)
    mailgun = settings.mailgun_webhook_signing_key
    return Context(
        max_age_s=settings.webhook_max_age_s,
        basic_auth=basic,
        sendgrid_key=sendgrid_public_key(settings.sendgrid_webhook_public_key),
        mailgun_key=mailgun.get_secret_value().encode() if mailgun else None,
        sns_topics=settings.sns_topics(),
        certs=CertStore(settings.sns_cert_dir, http),
        tokens=TokenStore(settings.postgres_url, settings.webhook_max_age_s),
        http=http,
    )
