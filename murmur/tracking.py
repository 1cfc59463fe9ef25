"""Signed tracking tokens: the sender mints them into every mail, the ingestion app verifies them.

A token is URL-safe base64 of a compact binary payload (the email record id, and the account,
campaign and contact ids when known) followed by a truncated HMAC-SHA256 under
`MURMUR_TRACKING_SECRET`. The MAC also covers the token's kind (open, click, unsubscribe), so one
kind cannot be replayed as another, and for clicks the target URL, which travels beside the token
as the query parameter `u`: a changed URL or a changed byte of the token fails verification.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import uuid
from dataclasses import dataclass
from typing import Literal
from urllib.parse import quote

Kind = Literal["o", "c", "u"]
_VERSION = 1
_MAC_BYTES = 12  # 96 bits: forging one needs ~2^96 guesses against a rate-limited endpoint
_MAX_TOKEN_CHARS = 120


@dataclass(frozen=True)
class TrackingIds:
    """What a token binds: the email record and, when the sender knows them, its owners."""

    email_record_id: int
    account_id: uuid.UUID | None = None
    campaign_id: int | None = None
    contact_id: int | None = None


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise ValueError("truncated varint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos


def _key(secret: str | bytes) -> bytes:
    key = secret.encode() if isinstance(secret, str) else secret
    if not key:
        raise ValueError("the tracking secret is empty (set MURMUR_TRACKING_SECRET)")
    return key


def _mac(secret: str | bytes, kind: Kind, payload: bytes, url: str | None) -> bytes:
    msg = b"murmur-tracking\x00" + kind.encode() + b"\x00" + payload
    if url is not None:
        msg += b"\x00" + url.encode()
    return hmac.new(_key(secret), msg, hashlib.sha256).digest()[:_MAC_BYTES]


def _encode(ids: TrackingIds) -> bytes:
    if ids.email_record_id < 0:
        raise ValueError("email_record_id must be >= 0")
    head = (_VERSION << 1) | (1 if ids.account_id is not None else 0)
    out = bytes([head]) + _varint(ids.email_record_id)
    out += _varint(0 if ids.campaign_id is None else ids.campaign_id + 1)
    out += _varint(0 if ids.contact_id is None else ids.contact_id + 1)
    if ids.account_id is not None:
        out += ids.account_id.bytes
    return out


def _decode(payload: bytes) -> TrackingIds:
    if not payload or payload[0] >> 1 != _VERSION:
        raise ValueError("unknown token version")
    has_account = payload[0] & 1
    record, pos = _read_varint(payload, 1)
    campaign, pos = _read_varint(payload, pos)
    contact, pos = _read_varint(payload, pos)
    account = None
    if has_account:
        if len(payload) - pos != 16:
            raise ValueError("bad account id")
        account = uuid.UUID(bytes=payload[pos : pos + 16])
    elif pos != len(payload):
        raise ValueError("trailing bytes")
    return TrackingIds(
        email_record_id=record,
        account_id=account,
        campaign_id=campaign - 1 if campaign else None,
        contact_id=contact - 1 if contact else None,
    )


def make_token(secret: str | bytes, kind: Kind, ids: TrackingIds, url: str | None = None) -> str:
    """A signed token of `kind` for `ids` (and, for clicks, the target `url`)."""
    payload = _encode(ids)
    raw = payload + _mac(secret, kind, payload, url if kind == "c" else None)
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def verify_token(
    secret: str | bytes, kind: Kind, token: str, url: str | None = None
) -> TrackingIds | None:
    """The ids a genuine token of `kind` binds, or None for anything tampered or malformed."""
    if not token or len(token) > _MAX_TOKEN_CHARS or (kind == "c" and url is None):
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        return None
    if len(raw) <= _MAC_BYTES:
        return None
    payload, mac = raw[:-_MAC_BYTES], raw[-_MAC_BYTES:]
    if not hmac.compare_digest(mac, _mac(secret, kind, payload, url if kind == "c" else None)):
        return None
    try:
        return _decode(payload)
    except ValueError:
        return None


def verify_open(secret: str | bytes, token: str) -> TrackingIds | None:
    return verify_token(secret, "o", token)


def verify_click(secret: str | bytes, token: str, url: str) -> TrackingIds | None:
    return verify_token(secret, "c", token, url)


def verify_unsubscribe(secret: str | bytes, token: str) -> TrackingIds | None:
    return verify_token(secret, "u", token)


def open_url(base_url: str, secret: str | bytes, ids: TrackingIds) -> str:
    """The open pixel URL: `<base>/t/o/<token>.gif`."""
    return f"{base_url.rstrip('/')}/t/o/{make_token(secret, 'o', ids)}.gif"


def click_url(base_url: str, secret: str | bytes, ids: TrackingIds, target: str) -> str:
    """The click redirect URL: `<base>/t/c/<token>?u=<target>`; only http(s) targets."""
    if not target.lower().startswith(("http://", "https://")):
        raise ValueError(f"click target must be an http(s) URL, got {target[:80]!r}")
    token = make_token(secret, "c", ids, target)
    return f"{base_url.rstrip('/')}/t/c/{token}?u={quote(target, safe='')}"


def unsubscribe_url(base_url: str, secret: str | bytes, ids: TrackingIds) -> str:
    """The unsubscribe URL (`List-Unsubscribe` and the page): `<base>/u/<token>`."""
    return f"{base_url.rstrip('/')}/u/{make_token(secret, 'u', ids)}"
