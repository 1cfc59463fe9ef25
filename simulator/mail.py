"""What the simulator needs from one message in the sink's Maildir.

The correlation headers the sender writes (`X-Murmur-Email-Id`, `Message-ID`, `Feedback-ID`
with the campaign id first), the recipient the sink recorded, and the tracking URLs: the open
pixel and the click links in the HTML part, the https one-click URL of `List-Unsubscribe`.
"""

from __future__ import annotations

import binascii
import html
import quopri
import re
from dataclasses import dataclass
from email import message_from_bytes
from email.message import Message
from email.parser import BytesHeaderParser

from murmur.events import EMAIL_ID_HEADER

_SRC = re.compile(r"""<img\b[^>]*?\bsrc\s*=\s*(["'])(.*?)\1""", re.IGNORECASE | re.DOTALL)
_HREF = re.compile(r"""<a\b[^>]*?\bhref\s*=\s*(["'])(.*?)\1""", re.IGNORECASE | re.DOTALL)
_ANGLE = re.compile(r"<([^>]+)>")
_HEADERS = BytesHeaderParser()


@dataclass(frozen=True)
class Sent:
    """One message the sink accepted, as the simulator sees it."""

    key: str  # the Maildir file name
    email_record_id: int
    campaign_id: int | None
    recipient: str
    message_id: str
    open_url: str | None
    click_urls: tuple[str, ...]
    unsubscribe_url: str | None
    one_click: bool

    @property
    def domain(self) -> str:
        return self.recipient.rsplit("@", 1)[-1].lower()


class NotOurs(ValueError):
    """A message without the sender's correlation header (someone else's test mail)."""


def _html_part(msg: Message) -> str:
    for part in msg.walk():
        if part.get_content_type() == "text/html":
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                charset = part.get_content_charset() or "utf-8"
                return payload.decode(charset, errors="replace")
    return ""


def _campaign(feedback_id: str | None) -> int | None:
    head = (feedback_id or "").split(":", 1)[0].strip()
    return int(head) if head.isdigit() else None


def _blank_line(raw: bytes) -> tuple[int, int]:
    """Where the head ends and the body starts (the first empty line), or (len, len)."""
    found = [(i, i + len(sep)) for sep in (b"\r\n\r\n", b"\n\n") if (i := raw.find(sep)) >= 0]
    return min(found) if found else (len(raw), len(raw))


def _decoded(part: Message, payload: bytes) -> str | None:
    encoding = (part.get("Content-Transfer-Encoding") or "7bit").strip().lower()
    if encoding == "base64":
        data = binascii.a2b_base64(payload)
    elif encoding == "quoted-printable":
        data = quopri.decodestring(payload)
    elif encoding in ("7bit", "8bit", "binary"):
        data = payload
    else:
        return None
    return data.decode(part.get_content_charset() or "utf-8", errors="replace")


def _html_part_fast(head: Message, body: bytes) -> str | None:
    """The HTML of a flat multipart (what the sender writes) without the full MIME parser.

    The feed parser took most of the simulator's time per message; None means "not that
    shape" and the caller parses the whole message instead.
    """
    if head.get_content_type() == "text/html":
        return _decoded(head, body)
    boundary = head.get_boundary() if head.get_content_maintype() == "multipart" else None
    if not boundary:
        return None
    for chunk in body.split(b"--" + boundary.encode())[1:]:
        if chunk.startswith(b"--"):
            break  # the closing delimiter
        end, start = _blank_line(chunk)
        part = _HEADERS.parsebytes(chunk[:end].lstrip(b"\r\n"))
        if part.get_content_maintype() == "multipart":
            return None
        if part.get_content_type() == "text/html":
            return _decoded(part, chunk[start:].rstrip(b"\r\n"))
    return ""


def parse_message(key: str, raw: bytes) -> Sent:
    """The `Sent` of a Maildir message, or NotOurs when it lacks our correlation header."""
    end, start = _blank_line(raw)
    msg = _HEADERS.parsebytes(raw[:end])
    record = (msg.get(EMAIL_ID_HEADER) or "").strip()
    if not record.isdigit():
        raise NotOurs(f"{key}: no {EMAIL_ID_HEADER} header")
    recipient = (msg.get("X-Sink-Rcpt-To") or msg.get("To") or "").split(",")[0].strip()
    body = _html_part_fast(msg, raw[start:])
    if body is None:
        body = _html_part(message_from_bytes(raw))
    opens = [html.unescape(m.group(2)) for m in _SRC.finditer(body)]
    open_url = next((u for u in opens if "/t/o/" in u), None)
    clicks = tuple(
        dict.fromkeys(
            u for u in (html.unescape(m.group(2)) for m in _HREF.finditer(body)) if "/t/c/" in u
        )
    )
    unsubscribe = next(
        (
            u
            for u in _ANGLE.findall(msg.get("List-Unsubscribe") or "")
            if u.startswith(("https://", "http://"))
        ),
        None,
    )
    one_click = "One-Click" in (msg.get("List-Unsubscribe-Post") or "")
    return Sent(
        key=key,
        email_record_id=int(record),
        campaign_id=_campaign(msg.get("Feedback-ID")),
        recipient=recipient,
        message_id=(msg.get("Message-ID") or "").strip(),
        open_url=open_url,
        click_urls=clicks,
        unsubscribe_url=unsubscribe,
        one_click=one_click,
    )
