"""MIME helpers of the message builder."""

from __future__ import annotations

import base64


def b64_lines(text: str) -> bytes:
    """Base64 in CRLF lines of 76 characters (`base64.encodebytes` with CRLF, in one pass)."""
    encoded = base64.b64encode(text.encode())
    if not encoded:
        return b""
    lines = [encoded[at : at + 76] for at in range(0, len(encoded), 76)]
    return b"\r\n".join(lines) + b"\r\n"
