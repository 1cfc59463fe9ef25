"""SNS signing certificates: only from `https://sns.<region>.amazonaws.com/`, pinned or fetched.

A certificate in `MURMUR_SNS_CERT_DIR` named like the last path segment of `SigningCertURL` is used
as is (no fetch, no expiry or chain check): offline deployments and tests pin their own. Fetched
certificates are checked for their validity dates and cached per URL.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from ingestion.receiver.errors import WebhookError, unauthorized

SNS_HOST = re.compile(r"^sns\.[a-z]{2}(-[a-z]+)+-\d\.amazonaws\.com$")
_CACHE_MAX = 64


def is_sns_url(url: str) -> bool:
    """True for `https://sns.<region>.amazonaws.com/...` (no port, user or other host)."""
    parts = urlsplit(url)
    return (
        parts.scheme == "https"
        and parts.port is None
        and parts.username is None
        and bool(SNS_HOST.match(parts.hostname or ""))
        and parts.netloc == parts.hostname
    )


class CertStore:
    def __init__(self, pinned_dir: Path | None, http: httpx.AsyncClient) -> None:
        self._dir = pinned_dir
        self._http = http
        self._cache: dict[str, RSAPublicKey] = {}

    async def public_key(self, url: str) -> RSAPublicKey:
        """The RSA key of the certificate at `url`; 401 for a foreign URL, 503 if unreachable."""
        key = self._cache.get(url) if isinstance(url, str) else None
        if key is not None:  # only checked URLs are cached: no URL parsing per message
            return key
        if not isinstance(url, str) or not is_sns_url(url) or not url.endswith(".pem"):
            raise unauthorized(
                f"SigningCertURL {str(url)[:120]!r} is not on https://sns.<region>.amazonaws.com/"
            )
        name = urlsplit(url).path.rsplit("/", 1)[-1]
        pinned = self._dir / name if self._dir and name else None
        if pinned is not None and pinned.is_file():
            cert = _load(pinned.read_bytes(), url)
        else:
            cert = await self._fetch(url)
            now = datetime.now(UTC)
            if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
                raise unauthorized(f"SNS signing certificate {name} is expired or not yet valid")
        public = cert.public_key()
        if not isinstance(public, RSAPublicKey):
            raise unauthorized(f"SNS signing certificate {name} does not hold an RSA key")
        if len(self._cache) >= _CACHE_MAX:
            self._cache.pop(next(iter(self._cache)))
        self._cache[url] = public
        return public

    async def _fetch(self, url: str) -> x509.Certificate:
        try:
            response = await self._http.get(url)
            response.raise_for_status()
        except httpx.HTTPError as exc:
            raise WebhookError(503, f"cannot fetch SNS signing certificate: {exc}") from None
        return _load(response.content, url)


def _load(data: bytes, url: str) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(data)
    except ValueError:
        raise unauthorized(f"SNS signing certificate at {url} is not a PEM certificate") from None
