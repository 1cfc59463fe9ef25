"""Campaign preview and test send behind one small adapter.

The preview and test-send domain functions are being added to `murmur.domain` separately; until
then the preview renders the campaign's subject and template here with the domain's sandboxed
renderer (`murmur.domain.rendering.render`, the contact's `template_context`), and the test send
reports that it is not available. To switch over, point `PREVIEW_FUNCTION` / `TEST_SEND_FUNCTION`
at the domain functions ("module:function"): they are looked up when called, and used when present.

Expected signatures: `preview(conn, account_id, campaign_id, contact_id) -> {"subject", "html",
"text"}` and `test_send(conn, account_id, campaign_id, to_email, actor) -> object`.
"""

from __future__ import annotations

import importlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from murmur.db.tables import contacts, templates
from murmur.domain.campaigns import get_campaign
from murmur.domain.rendering import render
from murmur.domain.template_context import template_context

PREVIEW_FUNCTION = "murmur.domain.preview:preview_campaign"
TEST_SEND_FUNCTION = "murmur.domain.preview:send_test"


class TestSendUnavailable(RuntimeError):
    """No test-send function is installed yet."""


@dataclass(frozen=True)
class Preview:
    subject: str
    html: str
    text: str


def _lookup(path: str) -> Callable[..., Any] | None:
    module, _, name = path.partition(":")
    try:
        found = getattr(importlib.import_module(module), name, None)
    except ImportError:
        return None
    return found if callable(found) else None


def preview(
    conn: sa.Connection, account_id: uuid.UUID, campaign_id: int, contact_id: int
) -> Preview:
    """The campaign rendered for one contact of the account (LookupError when either is absent)."""
    domain = _lookup(PREVIEW_FUNCTION)
    if domain is not None:
        out = domain(conn, account_id, campaign_id, contact_id)
        get = out.get if isinstance(out, dict) else (lambda k: getattr(out, k))
        return Preview(str(get("subject")), str(get("html")), str(get("text") or ""))
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
    return _lookup(TEST_SEND_FUNCTION) is not None


def test_send(
    conn: sa.Connection, account_id: uuid.UUID, campaign_id: int, to_email: str, actor: str
) -> Any:
    domain = _lookup(TEST_SEND_FUNCTION)
    if domain is None:
        raise TestSendUnavailable("test sends are not available in this version yet")
    return domain(conn, account_id, campaign_id, to_email, actor)
