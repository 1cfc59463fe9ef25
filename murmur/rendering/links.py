"""Tracking links: open pixel, click redirect and unsubscribe URLs for one email record.

The renderer depends on the `LinkMinter` Protocol only. `TrackingLinkMinter` mints them with the
shared token functions of `murmur.tracking`, which the ingestion receiver verifies with the same
`MURMUR_TRACKING_SECRET` (`/t/o/{token}.gif`, `/t/c/{token}?u=…`, `/u/{token}`). The tokens bind
the email record and its account, campaign and contact, so every event the receiver records
carries them without a ledger look-up.
"""

from __future__ import annotations

from typing import Protocol

from murmur import tracking
from murmur.settings import Settings, SettingsError
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


def link_minter(settings: Settings) -> TrackingLinkMinter:
    """The minter of these settings, or SettingsError: links are never sent unsigned.

    Every mail carries the signed unsubscribe link (List-Unsubscribe, the footer), so the secret
    is needed even without open or click tracking. The local stack provides both values
    (`Settings.resolved()` reads them from the running stack).
    """
    resolved = settings.resolved()
    secret = resolved.tracking_secret.get_secret_value() if resolved.tracking_secret else ""
    if not secret:
        raise SettingsError(
            "MURMUR_TRACKING_SECRET is not set and no local stack provides it: links in mail "
            "are signed with it and the ingestion receiver verifies them with the same secret. "
            "Set MURMUR_TRACKING_SECRET (the receiver's value) or run `murmur stack up`."
        )
    if not resolved.tracking_base_url:
        raise SettingsError(
            "MURMUR_TRACKING_BASE_URL is not set and no local stack provides it: the public URL "
            "of the ingestion receiver that serves /t/o, /t/c and /u."
        )
    try:
        return TrackingLinkMinter(resolved.tracking_base_url, secret)
    except ValueError as exc:
        raise SettingsError(str(exc)) from None
