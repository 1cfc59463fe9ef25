"""Tracking links: open pixel, click redirect and unsubscribe URLs for one email record.

The sender depends on the `LinkMinter` Protocol only. `TrackingLinkMinter` mints them with the
shared token functions of `murmur.tracking`, which the ingestion receiver verifies with the same
`MURMUR_TRACKING_SECRET` (`/t/o/{token}.gif`, `/t/c/{token}?u=…`, `/u/{token}`). The tokens bind
the email record and its account, campaign and contact, so every event the receiver records
carries them without a ledger look-up.
"""

from __future__ import annotations

from typing import Protocol

from murmur import tracking
from murmur.tracking import TrackingIds


class LinkMinter(Protocol):
    """Mints the signed tracking URLs of one email record."""

    def open_url(self, ids: TrackingIds) -> str: ...

    def click_url(self, ids: TrackingIds, target: str) -> str: ...

    def unsubscribe_url(self, ids: TrackingIds) -> str: ...


class TrackingLinkMinter:
    """`murmur.tracking` URLs under `base_url`, signed with `secret`."""

    def __init__(self, base_url: str, secret: str | bytes) -> None:
        if not secret:
            raise ValueError("the tracking secret is empty (set MURMUR_TRACKING_SECRET)")
        if not base_url.lower().startswith(("http://", "https://")):
            raise ValueError(
                f"MURMUR_TRACKING_BASE_URL must be an http(s) URL, got {base_url[:80]!r}"
            )
        self.base_url = base_url.rstrip("/")
        self.secret = secret

    def open_url(self, ids: TrackingIds) -> str:
        return tracking.open_url(self.base_url, self.secret, ids)

    def click_url(self, ids: TrackingIds, target: str) -> str:
        return tracking.click_url(self.base_url, self.secret, ids, target)

    def unsubscribe_url(self, ids: TrackingIds) -> str:
        return tracking.unsubscribe_url(self.base_url, self.secret, ids)
