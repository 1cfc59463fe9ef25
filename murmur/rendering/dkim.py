"""DKIM signing (RFC 6376, relaxed/relaxed) with `cryptography`: rsa-sha256 and ed25519-sha256.

dkimpy signs RSA in pure Python; this signs through OpenSSL, about an order of magnitude faster.
Only the signer lives here; keys are generated and stored by `murmur.domain.dkim`.
"""

from __future__ import annotations

import base64
import hashlib
import re

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa

SIGNED_HEADERS = (
    "from",
    "to",
    "subject",
    "date",
    "message-id",
    "reply-to",
    "mime-version",
    "content-type",
    "list-unsubscribe",
    "list-unsubscribe-post",
    "feedback-id",
    "x-murmur-email-id",
)
_WSP = re.compile(rb"[ \t]+")
_FOLD = re.compile(rb"\r\n(?=[ \t])")


def relaxed_header(name: bytes, value: bytes) -> bytes:
    """One header in relaxed canonical form (`name:value` + CRLF)."""
    if b"\r" in value or b"\t" in value or b"  " in value:  # else nothing to unfold or collapse
        value = _WSP.sub(b" ", _FOLD.sub(b"", value))
    return name.strip().lower() + b":" + value.strip() + b"\r\n"


def relaxed_body(body: bytes) -> bytes:
    crlf = body.count(b"\r\n")
    if (
        b"\t" not in body
        and b"  " not in body
        and b" \r\n" not in body
        and not body.endswith(b" ")
        and body.count(b"\r") == crlf == body.count(b"\n")
    ):  # nothing to collapse or strip (base64 parts): only the trailing empty lines go
        end = len(body)
        while body.endswith(b"\r\n", 0, end):
            end -= 2
        return body[:end] + b"\r\n" if end else b""
    lines = [_WSP.sub(b" ", line).rstrip(b" ") for line in body.split(b"\r\n")]
    while lines and lines[-1] == b"":
        lines.pop()
    return b"\r\n".join(lines) + b"\r\n" if lines else b""


class DkimSigner:
    """Signs messages for one domain and selector with an RSA or Ed25519 private key."""

    def __init__(
        self,
        domain: str,
        selector: str,
        key: rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey,
    ) -> None:
        self.domain = domain
        self.selector = selector
        self.key = key
        self.algorithm = (
            "ed25519-sha256" if isinstance(key, ed25519.Ed25519PrivateKey) else ("rsa-sha256")
        )

    def sign(self, headers: list[tuple[str, str]], body: bytes) -> str:
        """The `DKIM-Signature` header value for these headers (in order) and CRLF body."""
        body_hash = base64.b64encode(hashlib.sha256(relaxed_body(body)).digest()).decode()
        present = {name.lower() for name, _ in headers}
        names = [h for h in SIGNED_HEADERS if h in present]
        tags = (
            f"v=1; a={self.algorithm}; c=relaxed/relaxed; d={self.domain}; "
            f"s={self.selector}; h={':'.join(names)}; bh={body_hash}; b="
        )
        last: dict[str, str] = {}
        for name, value in headers:  # the last instance of each header is the one signed
            last[name.lower()] = value
        data = b"".join(relaxed_header(n.encode(), last[n].encode()) for n in names)
        data += relaxed_header(b"dkim-signature", tags.encode())[:-2]
        if isinstance(self.key, ed25519.Ed25519PrivateKey):
            signature = self.key.sign(hashlib.sha256(data).digest())
        else:
            signature = self.key.sign(data, padding.PKCS1v15(), hashes.SHA256())
        return tags + base64.b64encode(signature).decode()
