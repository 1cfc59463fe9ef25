"""Campaign preview and test send for the Campaigns page, through `murmur.domain.test_send`.

The preview is the mail as the sender builds it (`murmur.domain.test_send.preview`: the pinned
template version, tracking links, footer) when tracking links are configured
(`MURMUR_TRACKING_SECRET` and `MURMUR_TRACKING_BASE_URL`, or a running local stack); without them
it falls back to the subject and template rendered with the domain's sandboxed renderer. Test
sends go through `murmur.domain.test_send.send_test_mail` (the platform SMTP relay, `[Test]`
subject, audit-logged, never the ledger) and need the tracking links and `MURMUR_SMTP_URL`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import sqlalchemy as sa

from murmur.db.tables import contacts, templates
from murmur.domain import test_send as test_send_domain
from murmur.domain.campaigns import get_campaign
from murmur.domain.errors import NotFound
from murmur.domain.rendering import render
from murmur.domain.template_context import template_context
from murmur.rendering.links import LinkMinter, link_minter
from murmur.settings import SettingsError, get_settings


class TestSendUnavailable(RuntimeError):
    """Test sends need settings this app does not have (the message says which)."""


@dataclass(frozen=True)
class Preview:
    subject: str
    html: str
    text: str


def _links() -> LinkMinter | None:
    try:
        return link_minter(get_settings())
    except SettingsError:
        return None


def preview(
    conn: sa.Connection, account_id: uuid.UUID, campaign_id: int, contact_id: int
) -> Preview:
    """The campaign rendered for one contact of the account (LookupError when either is absent)."""
    links = _links()
    if links is not None:
        try:
            shown = test_send_domain.preview(conn, account_id, campaign_id, contact_id, links)
        except NotFound as exc:
            raise LookupError(str(exc)) from None
        return Preview(shown.parts.subject, shown.parts.html, shown.parts.text)
    campaign = get_campaign(conn, account_id, campaign_id)
    if campaign is None:
        raise LookupError(f"campaign {campaign_id} not found")
    contact = (
        conn.execute(
            sa.select(contacts).where(
                contacts.c.account_id == account_id, contacts.c.contact_id == contact_id
            )
        )
        .mappings()
        .one_or_none()
    )
    if contact is None:
        raise LookupError(f"contact {contact_id} not found")
    template = (
        conn.execute(
            sa.select(templates).where(
                templates.c.account_id == account_id,
                templates.c.template_id == campaign["template_id"],
            )
        )
        .mappings()
        .one_or_none()
    )
    if template is None:
        raise LookupError("the campaign has no template to preview")
    context = template_context(dict(contact))
    return Preview(
        render(campaign["subject"], context),
        render(template["body_html"], context, html=True),
        render(template["body_text"] or "", context),
    )


def data_url(html: str) -> str:
    """`html` as a base64 data: URL (for an iframe isolated from the app's origin)."""
    import base64

    return "data:text/html;charset=utf-8;base64," + base64.b64encode(html.encode()).decode()


def test_send_available() -> bool:
    return _links() is not None and bool(get_settings().resolved().smtp_url)


def test_send(
    conn: sa.Connection, account_id: uuid.UUID, campaign_id: int, to_email: str, actor: str
) -> test_send_domain.SendTestReport:
    """One test mail to `to_email`; TestSendUnavailable without links or relay, or if refused."""
    links = _links()
    settings = get_settings().resolved()
    if links is None or not settings.smtp_url:
        raise TestSendUnavailable(
            "test sends need MURMUR_SMTP_URL and the tracking settings "
            "(MURMUR_TRACKING_SECRET, MURMUR_TRACKING_BASE_URL) or a running local stack"
        )
    report = test_send_domain.send_test_mail(
        conn.engine,
        account_id,
        campaign_id,
        [to_email],
        None,
        links,
        settings.smtp_url,
        settings.secret_key or "",
        actor,
    )
    refused = [r for r in report.addresses if not r.accepted]
    if refused:
        raise TestSendUnavailable(f"the relay refused {to_email}: {refused[0].reason}")
    return report
