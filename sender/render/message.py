"""Per recipient: personalise, track links, add the footer, build MIME (RFC 8058), sign."""

from __future__ import annotations

import base64
import html
import re
import uuid
from collections.abc import Callable
from email.header import Header
from email.utils import formataddr, formatdate

from murmur.domain.rendering import RenderError, template_context
from murmur.domain.rendering import compile_template as compile_jinja
from murmur.events import EMAIL_ID_HEADER, message_id_for
from murmur.tracking import TrackingIds
from sender.dkim_sign import DkimSigner
from sender.models import Campaign, Outgoing, Recipient, RenderFailure
from sender.render.compile import CompiledTemplate, compile_template
from sender.render.links import LinkMinter
from sender.render.text import html_to_text

_HREF = re.compile(r"""(<a\b[^>]*?\bhref\s*=\s*)(["'])(.*?)\2""", re.IGNORECASE | re.DOTALL)
_BODY_END = re.compile(r"</body\s*>", re.IGNORECASE)


def _domain(address: str) -> str:
    return address.rsplit("@", 1)[-1].strip().lower()


def _header(value: str) -> str:
    return value if value.isascii() else Header(value, "utf-8").encode()


def _b64(text: str) -> bytes:
    """Base64 in CRLF lines of 76 characters (`base64.encodebytes` with CRLF, in one pass)."""
    encoded = base64.b64encode(text.encode())
    if not encoded:
        return b""
    lines = [encoded[at : at + 76] for at in range(0, len(encoded), 76)]
    return b"\r\n".join(lines) + b"\r\n"


class CampaignRenderer:
    """The Renderer of one campaign: the template compiled once, then one call per recipient."""

    def __init__(
        self,
        campaign: Campaign,
        links: LinkMinter,
        signer: DkimSigner | None = None,
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
        self.from_header = formataddr((campaign.from_name, campaign.from_email), "utf-8")
        self.feedback_id = f"{campaign.campaign_id}:{campaign.account_id.hex[:12]}:campaign:murmur"

    def __call__(self, recipient: Recipient) -> Outgoing:
        if not recipient.email:
            raise RenderFailure("the contact has no email address")
        eid = recipient.email_record_id
        ids = TrackingIds(
            email_record_id=eid,
            account_id=self.campaign.account_id,
            campaign_id=self.campaign.campaign_id,
            contact_id=recipient.contact_id,
        )
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
        try:
            subject = self._subject(context).replace("\r", " ").replace("\n", " ")
            body = self._html(context)
            text = self._text(context) if self._text is not None else None
        except RenderError as exc:
            raise RenderFailure(str(exc)) from None
        if self.track_clicks:
            body = self._track(ids, body, unsubscribe)
        body = _before_body_end(body, self._footer_html(unsubscribe))
        if text is None:
            text = html_to_text(body)
        elif not c.has_unsubscribe or not c.has_postal_address:
            address = self.campaign.postal_address
            text = f"{text.rstrip()}\n\n-- \nUnsubscribe: {unsubscribe}\n{address}\n"
        if self.track_opens:
            pixel = (
                f'<img src="{html.escape(self.links.open_url(ids))}" width="1" height="1" alt="">'
            )
            body = _before_body_end(body, pixel)
        return self._package(recipient, eid, subject, body, text, unsubscribe)

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

    def _package(
        self, recipient: Recipient, eid: int, subject: str, body: str, text: str, unsub: str
    ) -> Outgoing:
        if recipient.email is None:  # the snapshot only queues contacts that have an address
            raise ValueError(f"email record {eid} has no recipient address")
        message_id = message_id_for(eid, self.domain)
        mailto = f"mailto:unsubscribe@{self.domain}?subject=unsubscribe-{eid}"
        headers = [
            ("From", self.from_header),
            ("To", recipient.email),
            ("Subject", _header(subject)),
            ("Date", formatdate(usegmt=True)),
            ("Message-ID", message_id),
        ]
        if self.campaign.reply_to:
            headers.append(("Reply-To", self.campaign.reply_to))
        boundary = f"=_murmur_{uuid.uuid4().hex}"
        headers += [
            ("MIME-Version", "1.0"),
            ("Content-Type", f'multipart/alternative; boundary="{boundary}"'),
            ("List-Unsubscribe", f"<{unsub}>, <{mailto}>"),
            ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
            ("Feedback-ID", self.feedback_id),
            (EMAIL_ID_HEADER, str(eid)),
        ]
        part = "Content-Transfer-Encoding: base64\r\n\r\n"
        content = b"".join(
            (
                f"--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n{part}".encode(),
                _b64(text),
                f"--{boundary}\r\nContent-Type: text/html; charset=utf-8\r\n{part}".encode(),
                _b64(body),
                f"--{boundary}--\r\n".encode(),
            )
        )
        if self.signer is not None:
            headers.insert(0, ("DKIM-Signature", self.signer.sign(headers, content)))
        head = "".join(f"{name}: {value}\r\n" for name, value in headers).encode()
        return Outgoing(
            email_record_id=eid,
            contact_id=recipient.contact_id,
            mail_from=self.campaign.from_email,
            rcpt_to=recipient.email,
            data=head + b"\r\n" + content,
            message_id=message_id,
        )


def _part(source: str, html: bool) -> Callable[[dict[str, object]], str]:
    """Jinja only when the source has a tag: a static part is returned as it is."""
    if "{" not in source:
        return lambda context: source
    return compile_jinja(source, html=html).render


def _before_body_end(body: str, snippet: str) -> str:
    if not snippet:
        return body
    matches = list(_BODY_END.finditer(body))
    if not matches:
        return body + snippet
    at = matches[-1].start()
    return body[:at] + snippet + body[at:]
