"""Preview and test-send: a campaign's message for one contact, outside the send ledger.

Both render with `murmur.rendering` exactly as the sender does (MJML, CSS inlined, Jinja,
tracked links, footer, open pixel, RFC 8058 headers). Their tracking tokens bind the preview
record 0 and no account, campaign or contact, so opening a preview (its pixel loads) or clicking
a test mail's links never counts as that contact's open or click; their Message-IDs are not
ledger ids. A test send never writes the ledger or the counters; it is audit-logged.

Test mail goes through the platform's SMTP relay (`MURMUR_SMTP_URL`) with a small smtplib
submit: one connection, each address accepted or refused on its own.
"""

from __future__ import annotations

import smtplib
import ssl
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import sqlalchemy as sa

from murmur.crypto import CryptoError
from murmur.db.tables import contacts
from murmur.domain.audit import audit
from murmur.domain.campaign_content import CampaignContent, campaign_content
from murmur.domain.campaigns import get_campaign
from murmur.domain.dkim import DkimError, load_key
from murmur.domain.errors import DomainError, InvalidInput, NotFound
from murmur.domain.rendering import SAMPLE_CONTACT, RenderError
from murmur.rendering.dkim import DkimSigner
from murmur.rendering.links import LinkMinter
from murmur.rendering.message import MessageRenderer, Parts
from murmur.tracking import TrackingIds

MAX_TEST_ADDRESSES = 10
PREVIEW_RECORD_ID = 0  # ledger ids start at 1: tokens of record 0 match no email
TEST_PREFIX = "[Test] "
SMTP_TIMEOUT = 15.0


class SubmitError(DomainError):
    """The SMTP relay cannot be reached or refuses the session (the API answers 502)."""

    kind = "smtp_error"


@dataclass(frozen=True)
class PreviewContact:
    """The contact a preview personalises for (`murmur.rendering.message.RecipientSource`)."""

    contact_id: int
    email: str | None
    first_name: str | None
    last_name: str | None
    custom_fields: dict[str, Any] = field(default_factory=dict)
    email_record_id: int = PREVIEW_RECORD_ID


@dataclass(frozen=True)
class Preview:
    contact: PreviewContact
    parts: Parts
    headers: list[tuple[str, str]]


@dataclass(frozen=True)
class AddressResult:
    address: str
    accepted: bool
    message_id: str
    reason: str | None = None


@dataclass(frozen=True)
class SendTestReport:
    subject: str  # as sent, `[Test]` prefix included
    addresses: list[AddressResult]
    warning: str | None = None  # why the mail went out unsigned


def load(
    conn: sa.Connection, account_id: uuid.UUID, campaign_id: int, contact_id: int | None
) -> tuple[CampaignContent, PreviewContact]:
    """The campaign's content and the contact (the sample contact without `contact_id`)."""
    row = get_campaign(conn, account_id, campaign_id)
    if row is None:
        raise NotFound.of("campaign", campaign_id)
    content = campaign_content(conn, row)
    if contact_id is None:
        return content, PreviewContact(0, **SAMPLE_CONTACT)  # type: ignore[arg-type]
    found = (
        conn.execute(
            sa.select(
                contacts.c.email,
                contacts.c.first_name,
                contacts.c.last_name,
                contacts.c.custom_fields,
            ).where(contacts.c.account_id == account_id, contacts.c.contact_id == contact_id)
        )
        .mappings()
        .one_or_none()
    )
    if found is None:
        raise NotFound(f"contact {contact_id} not found", "contact_id", "query")
    return content, PreviewContact(
        contact_id=contact_id,
        email=found["email"],
        first_name=found["first_name"],
        last_name=found["last_name"],
        custom_fields=dict(found["custom_fields"] or {}),
    )


def _renderer(
    content: CampaignContent, links: LinkMinter, signer: DkimSigner | None = None
) -> MessageRenderer:
    try:
        return MessageRenderer(content, links, signer)
    except RenderError as exc:
        raise InvalidInput(str(exc), "template") from None


def _parts(renderer: MessageRenderer, contact: PreviewContact) -> Parts:
    try:
        return renderer.parts(contact, TrackingIds(PREVIEW_RECORD_ID))
    except RenderError as exc:
        raise InvalidInput(
            f"the campaign does not render for contact {contact.contact_id}: {exc}", "template"
        ) from None


def preview(
    conn: sa.Connection,
    account_id: uuid.UUID,
    campaign_id: int,
    contact_id: int | None,
    links: LinkMinter,
) -> Preview:
    """Subject, HTML, text and headers of the campaign's message for one contact."""
    content, contact = load(conn, account_id, campaign_id, contact_id)
    renderer = _renderer(content, links)
    parts = _parts(renderer, contact)
    message_id = f"<murmur-preview@{renderer.domain}>"
    headers, _ = renderer.package(parts, contact.email or "", message_id, PREVIEW_RECORD_ID)
    return Preview(contact, parts, headers)


def send_test_mail(
    engine: sa.Engine,
    account_id: uuid.UUID,
    campaign_id: int,
    addresses: list[str],
    contact_id: int | None,
    links: LinkMinter,
    smtp_url: str,
    secret_key: str,
    actor: str,
) -> SendTestReport:
    """Send the campaign's message for one contact to `addresses`, subject prefixed `[Test]`.

    Signed with the sending domain's DKIM key when it has one. InvalidInput for bad addresses
    or a template that does not render, SubmitError when the relay cannot be used.
    """
    unique = list(dict.fromkeys(a.strip() for a in addresses))
    if not unique:
        raise InvalidInput("give at least one address", "addresses")
    if len(unique) > MAX_TEST_ADDRESSES:
        raise InvalidInput(
            f"at most {MAX_TEST_ADDRESSES} addresses per test send, got {len(unique)}",
            "addresses",
        )
    with engine.connect() as conn:
        content, contact = load(conn, account_id, campaign_id, contact_id)
        domain = content.from_email.rsplit("@", 1)[-1].lower()
        warning = None
        try:
            key = load_key(conn, account_id, domain, secret_key)
        except (CryptoError, DkimError) as exc:  # the campaign would go out unsigned too
            key, warning = None, f"sent unsigned: DKIM key of {domain} unusable: {exc}"
    signer = DkimSigner(key.domain, key.selector, key.private_key) if key else None
    if key is None and warning is None:
        warning = f"sent unsigned: no DKIM key for {domain} (`murmur dkim keygen {domain}`)"
    renderer = _renderer(content, links, signer)
    parts = _parts(renderer, contact)
    outgoing = []
    for address in unique:
        message_id = f"<murmur-test.{uuid.uuid4().hex}@{renderer.domain}>"
        _, data = renderer.package(
            parts, address, message_id, None, TEST_PREFIX, [("X-Murmur-Test", "1")]
        )
        outgoing.append((address, message_id, data))
    refusals = submit(smtp_url, content.from_email, [(a, d) for a, _, d in outgoing])
    results = [
        AddressResult(address, reason is None, message_id, reason)
        for (address, message_id, _), reason in zip(outgoing, refusals, strict=True)
    ]
    with engine.begin() as conn:
        audit(
            conn,
            account_id,
            actor,
            "campaign.test_send",
            "campaign",
            campaign_id,
            {
                "addresses": unique,
                "contact_id": contact_id,
                "accepted": sum(r.accepted for r in results),
                "signed": signer is not None,
            },
        )
    return SendTestReport(TEST_PREFIX + parts.subject, results, warning)


def submit(url: str, mail_from: str, messages: list[tuple[str, bytes]]) -> list[str | None]:
    """Deliver each (recipient, data) over one connection: None when accepted, else why not.

    `smtp://user:pass@host:port` (STARTTLS when offered; `?starttls=require|no`) or `smtps://`.
    SubmitError when the relay cannot be reached or refuses the session itself.
    """
    parts = urlsplit(url)
    starttls = parse_qs(parts.query).get("starttls", ["auto"])[0]
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise SubmitError("MURMUR_SMTP_URL must be smtp://host:port or smtps://host:port")
    where = f"{parts.hostname}:{parts.port or (465 if parts.scheme == 'smtps' else 25)}"
    results: list[str | None] = []
    try:
        conn = _connect(parts.scheme, parts.hostname, parts.port, starttls)
        try:
            if parts.username:
                conn.login(unquote(parts.username), unquote(parts.password or ""))
            for rcpt, data in messages:
                results.append(_send_one(conn, mail_from, rcpt, data))
        finally:
            try:
                conn.quit()
            except (OSError, smtplib.SMTPException):
                conn.close()
    except (OSError, smtplib.SMTPException) as exc:
        raise SubmitError(f"the SMTP relay {where} cannot be used: {exc}") from None
    return results


def _connect(scheme: str, host: str, port: int | None, starttls: str) -> smtplib.SMTP:
    context = ssl.create_default_context()
    conn: smtplib.SMTP
    if scheme == "smtps":
        conn = smtplib.SMTP_SSL(host, port or 465, timeout=SMTP_TIMEOUT, context=context)
    else:
        conn = smtplib.SMTP(host, port or 25, timeout=SMTP_TIMEOUT)
    conn.ehlo()
    if scheme == "smtp" and starttls != "no":
        if conn.has_extn("starttls"):
            conn.starttls(context=context)
            conn.ehlo()
        elif starttls == "require":
            conn.close()
            raise smtplib.SMTPNotSupportedError("the server does not offer STARTTLS")
    return conn


def _send_one(conn: smtplib.SMTP, mail_from: str, rcpt: str, data: bytes) -> str | None:
    options = [] if rcpt.isascii() and mail_from.isascii() else ["SMTPUTF8"]
    try:
        conn.sendmail(mail_from, [rcpt], data, mail_options=options)
        return None
    except smtplib.SMTPNotSupportedError:  # raised before MAIL FROM: the session is intact
        return "the relay does not accept non-ASCII addresses (no SMTPUTF8)"
    except smtplib.SMTPRecipientsRefused as exc:
        code, text = exc.recipients.get(rcpt, (0, b""))
        reason = f"{code} {text.decode(errors='replace')}"
    except smtplib.SMTPResponseException as exc:  # sender refused, data refused
        reason = f"{exc.smtp_code} {_text(exc.smtp_error)}"
    try:
        conn.rset()
    except smtplib.SMTPServerDisconnected:
        raise
    except smtplib.SMTPException:
        pass
    return reason


def _text(value: bytes | str) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else value
