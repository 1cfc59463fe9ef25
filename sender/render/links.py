"""Tracking links: open pixel, click redirect and unsubscribe URLs for one email record.

The sender depends on the `LinkMinter` Protocol only. `HmacLinkMinter` is a stand-in until the
shared token functions of `murmur.tracking` land; the URL shapes are those the receiver serves
(`/t/o/{token}.gif`, `/t/c/{token}`, `/u/{token}`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Protocol


class LinkMinter(Protocol):
    """Mints the signed tracking URLs of one email record."""

    def open_url(self, email_record_id: int) -> str: ...

    def click_url(self, email_record_id: int, target: str) -> str: ...

    def unsubscribe_url(self, email_record_id: int) -> str: ...


# replaced by murmur.tracking at merge
class HmacLinkMinter:
    """Tokens `base64url(json payload).base64url(hmac-sha256)`; the click token binds the URL."""

    def __init__(self, base_url: str, secret: bytes) -> None:
        self.base_url = base_url.rstrip("/")
        self.secret = secret

    def _token(self, payload: dict[str, object]) -> str:
        body = _b64(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode())
        sig = hmac.new(self.secret, body.encode(), hashlib.sha256).digest()[:16]
        return f"{body}.{_b64(sig)}"

    def verify(self, token: str) -> dict[str, object] | None:
        body, _, sig = token.partition(".")
        expected = _b64(hmac.new(self.secret, body.encode(), hashlib.sha256).digest()[:16])
        if not hmac.compare_digest(sig, expected):
            return None
        padded = body + "=" * (-len(body) % 4)
        payload: dict[str, object] = json.loads(base64.urlsafe_b64decode(padded))
        return payload

    def open_url(self, email_record_id: int) -> str:
        return f"{self.base_url}/t/o/{self._token({'e': email_record_id, 'k': 'o'})}.gif"

    def click_url(self, email_record_id: int, target: str) -> str:
        token = self._token({"e": email_record_id, "k": "c", "u": target})
        return f"{self.base_url}/t/c/{token}"

    def unsubscribe_url(self, email_record_id: int) -> str:
        return f"{self.base_url}/u/{self._token({'e': email_record_id, 'k': 'u'})}"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
