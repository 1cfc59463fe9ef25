"""DKIM signing lives in `murmur.rendering.dkim` (shared with the API's test-send)."""

from __future__ import annotations

from murmur.rendering.dkim import _WSP, SIGNED_HEADERS, DkimSigner, relaxed_body, relaxed_header

__all__ = ["SIGNED_HEADERS", "_WSP", "DkimSigner", "relaxed_body", "relaxed_header"]
