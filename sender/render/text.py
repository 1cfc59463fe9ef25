"""The automatic plain-text part: `murmur.rendering.text` (re-exported)."""

from __future__ import annotations

from murmur.rendering.text import TextPart, _fast_feed, _Text, html_to_text

__all__ = ["TextPart", "_Text", "_fast_feed", "html_to_text"]
