"""Per recipient: personalise, track links, add the footer, build MIME (RFC 8058), sign.

`MessageRenderer` compiles a campaign once; `parts()` personalises it for one recipient (what a
preview shows) and `package()` wraps parts into the wire message (headers, MIME, DKIM). Calling
the renderer does both for a ledger row, which is what the sender sends.
"""

from __future__ import annotations

import html
import itertools
import re
import secrets
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from email.header import Header
from email.utils import formataddr, formatdate
from typing import Any, Protocol

from murmur.domain.rendering import RenderError, template_context
from murmur.domain.rendering import compile_template as compile_jinja
from murmur.events import EMAIL_ID_HEADER, message_id_for
from murmur.rendering.compile import CompiledTemplate, compile_template
from murmur.rendering.links import LinkMinter
from murmur.rendering.mime import b64_lines
from murmur.rendering.text import TextPart
from murmur.tracking import TrackingIds

_HREF = re.compile(r"""(<a\b[^>]*?\bhref\s*=\s*)(["'])(.*?)\2""", re.IGNORECASE | re.DOTALL)
_BODY_END = re.compile(r"</body\s*>", re.IGNORECASE)
Headers = list[tuple[str, str]]


class CampaignSource(Protocol):
    """What the renderer reads of a campaign (`sender.models.Campaign` is one)."""

    @property
    def campaign_id(self) -> int: ...
    @property
    def account_id(self) -> uuid.UUID: ...
    @property
    def subject(self) -> str: ...
    @property
    def from_name(self) -> str: ...
    @property
    def from_email(self) -> str: ...
    @property
    def reply_to(self) -> str | None: ...
    @property
    def body_html(self) -> str: ...
    @property
    def body_text(self) -> str | None: ...
    @property
    def postal_address(self) -> str: ...


class RecipientSource(Protocol):
    """One recipient's ledger row and contact fields (`sender.models.Recipient` is one)."""

    @property
    def email_record_id(self) -> int: ...
    @property
    def contact_id(self) -> int: ...
    @property
    def email(self) -> str | None: ...
    @property
    def first_name(self) -> str | None: ...
    @property
    def last_name(self) -> str | None: ...
    @property
    def custom_fields(self) -> dict[str, Any]: ...


class Signer(Protocol):
    """Signs a message: the `DKIM-Signature` value for these headers and CRLF body."""

    def sign(self, headers: Headers, body: bytes) -> str: ...


@dataclass(frozen=True, slots=True)
class Parts:
    """One recipient's personalised subject, HTML (tracked, footer, pixel) and text."""

    subject: str
    html: str
    text: str
    unsubscribe_url: str


@dataclass(frozen=True, slots=True)
class RenderedMessage:
    """A message ready for the wire."""

    email_record_id: int
    contact_id: int
    mail_from: str
    rcpt_to: str
    data: bytes
    message_id: str


def _domain(address: str) -> str:
    return address.rsplit("@", 1)[-1].strip().lower()


def _header(value: str) -> str:
    return value if value.isascii() else Header(value, "utf-8").encode()


class MessageRenderer:
    """The renderer of one campaign: the template compiled once, then one call per recipient.

    RenderError when the template does not compile (constructor) or does not render for a
    recipient (per call).
    """

    def __init__(
        self,
        campaign: CampaignSource,
        links: LinkMinter,
        signer: Signer | None = None,
        track_opens: bool = True,
        track_clicks: bool = True,
    ) -> None:
        self.campaign = campaign
        self.links = links
        self.signer = signer
        self.track_opens = track_opens
        self.track_clicks = track_clicks
        self.domain = _domain(campaign.from_email)
        self.compiled: CompiledTemplate = compile_template(
            campaign.subject, campaign.body_html, campaign.body_text, campaign.postal_address
        )
        c = self.compiled  # Jinja compiled once per campaign; per recipient only personalised
        self._subject = _part(c.subject, html=False)
        self._html = _part(c.html, html=True)
        self._text = _part(c.text, html=False) if c.text else None
        self._auto_text = TextPart()
        self.from_header = formataddr((campaign.from_name, campaign.from_email), "utf-8")
        self.feedback_id = f"{campaign.campaign_id}:{campaign.account_id.hex[:12]}:campaign:murmur"
        self._mailto = f"mailto:unsubscribe@{self.domain}?subject=unsubscribe-"
        # MIME boundaries: "=_" never occurs in base64 lines, so any such string is safe; a
        # random prefix and a counter keep them unique without a uuid4 per message
        self._boundary = secrets.token_hex(8)
        self._serial = itertools.count()

    def tracking_ids(self, recipient: RecipientSource) -> TrackingIds:
        return TrackingIds(
            email_record_id=recipient.email_record_id,
            account_id=self.campaign.account_id,
            campaign_id=self.campaign.campaign_id,
            contact_id=recipient.contact_id,
        )

    def __call__(self, recipient: RecipientSource) -> RenderedMessage:
        """The ledger row's message: Message-ID and tracking tokens bound to its email record."""
        if not recipient.email:
            raise RenderError("the contact has no email address")
        eid = recipient.email_record_id
        parts = self.parts(recipient, self.tracking_ids(recipient))
        message_id = message_id_for(eid, self.domain)
        _, data = self.package(parts, recipient.email, message_id, eid)
        return RenderedMessage(
            email_record_id=eid,
            contact_id=recipient.contact_id,
            mail_from=self.campaign.from_email,
            rcpt_to=recipient.email,
            data=data,
            message_id=message_id,
        )

    def parts(self, recipient: RecipientSource, ids: TrackingIds) -> Parts:
        """Personalise subject and bodies; links, footer and pixel minted for `ids`."""
        unsubscribe = self.links.unsubscribe_url(ids)
        context = template_context(
            {
                "email": recipient.email,
                "first_name": recipient.first_name,
                "last_name": recipient.last_name,
                "custom_fields": recipient.custom_fields,
            }
        )
        context.update(
            unsubscribe_url=unsubscribe,
            postal_address=self.campaign.postal_address,
            contact_id=recipient.contact_id,
        )
        c = self.compiled
        subject = self._subject(context).replace("\r", " ").replace("\n", " ")
        body = self._html(context)
        text = self._text(context) if self._text is not None else None
        if self.track_clicks:
            body = self._track(ids, body, unsubscribe)
        body = _before_body_end(body, self._footer_html(unsubscribe))
        if text is None:
            text = self._auto_text(body)
        elif not c.has_unsubscribe or not c.has_postal_address:
            address = self.campaign.postal_address
            text = f"{text.rstrip()}\n\n-- \nUnsubscribe: {unsubscribe}\n{address}\n"
        if self.track_opens:
            pixel = (
                f'<img src="{html.escape(self.links.open_url(ids))}" width="1" height="1" alt="">'
            )
            body = _before_body_end(body, pixel)
        return Parts(subject=subject, html=body, text=text, unsubscribe_url=unsubscribe)

    def _track(self, ids: TrackingIds, body: str, unsubscribe: str) -> str:
        def swap(match: re.Match[str]) -> str:
            target = html.unescape(match.group(3)).strip()
            if not target.startswith(("http://", "https://")) or target == unsubscribe:
                return match.group(0)
            url = html.escape(self.links.click_url(ids, target), quote=True)
            return f"{match.group(1)}{match.group(2)}{url}{match.group(2)}"

        return _HREF.sub(swap, body)

    def _footer_html(self, unsubscribe: str) -> str:
        c = self.compiled
        parts = []
        if not c.has_unsubscribe:
            parts.append(f'<a href="{html.escape(unsubscribe)}">Unsubscribe</a>')
        if not c.has_postal_address:
            parts.append(html.escape(self.campaign.postal_address))
        if not parts:
            return ""
        style = "font-size:12px;color:#666666;text-align:center;padding:16px"
        return f'<div class="murmur-footer" style="{style}">{"<br>".join(parts)}</div>'

    def package(
        self,
        parts: Parts,
        rcpt_to: str,
        message_id: str,
        email_id: int | None,
        subject_prefix: str = "",
        extra_headers: Sequence[tuple[str, str]] = (),
    ) -> tuple[Headers, bytes]:
        """The headers (DKIM-Signature first when signed) and the wire bytes of one message.

        `email_id` is the email record (`X-Murmur-Email-Id`, the mailto unsubscribe subject);
        None for a message outside the ledger (a test send).
        """
        tag = "test" if email_id is None else str(email_id)
        headers = [
            ("From", self.from_header),
            ("To", rcpt_to),
            ("Subject", _header(subject_prefix + parts.subject)),
            ("Date", _date()),
            ("Message-ID", message_id),
        ]
        if self.campaign.reply_to:
            headers.append(("Reply-To", self.campaign.reply_to))
        boundary = f"=_murmur_{self._boundary}{next(self._serial):x}"
        headers += [
            ("MIME-Version", "1.0"),
            ("Content-Type", f'multipart/alternative; boundary="{boundary}"'),
            ("List-Unsubscribe", f"<{parts.unsubscribe_url}>, <{self._mailto}{tag}>"),
            ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
            ("Feedback-ID", self.feedback_id),
        ]
        if email_id is not None:
            headers.append((EMAIL_ID_HEADER, str(email_id)))
        headers += extra_headers
        part = "Content-Transfer-Encoding: base64\r\n\r\n"
        content = b"".join(
            (
                f"--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n{part}".encode(),
                b64_lines(parts.text),
                f"--{boundary}\r\nContent-Type: text/html; charset=utf-8\r\n{part}".encode(),
                b64_lines(parts.html),
                f"--{boundary}--\r\n".encode(),
            )
        )
        if self.signer is not None:
            headers.insert(0, ("DKIM-Signature", self.signer.sign(headers, content)))
        head = "".join(f"{name}: {value}\r\n" for name, value in headers).encode()
        return headers, head + b"\r\n" + content


_last_date: tuple[int, str] = (0, "")


def _date() -> str:
    """The `Date` header for now, formatted once per second (it has a resolution of seconds)."""
    global _last_date
    now = int(time.time())
    if _last_date[0] != now:
        _last_date = (now, formatdate(now, usegmt=True))
    return _last_date[1]


def _part(source: str, html: bool) -> Callable[[dict[str, object]], str]:
    """Jinja only when the source has a tag: a static part is returned as it is."""
    if "{" not in source:
        return lambda context: source
    return compile_jinja(source, html=html).render


def _before_body_end(body: str, snippet: str) -> str:
    if not snippet:
        return body
    at = body.rfind("</body>")  # the usual spelling; a later variant still wins below
    if at < 0 or _BODY_END.search(body, at + 1) is not None:
        matches = list(_BODY_END.finditer(body))
        if not matches:
            return body + snippet
        at = matches[-1].start()
    return body[:at] + snippet + body[at:]
