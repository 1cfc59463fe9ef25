"""Tracking links: `murmur.rendering.links` (re-exported for the sender's wiring)."""

from __future__ import annotations

from murmur.rendering.links import LinkMinter, TrackingLinkMinter

__all__ = ["LinkMinter", "TrackingLinkMinter"]
