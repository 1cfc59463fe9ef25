"""What a campaign's messages are made of: its template content and the account's identity.

One loader for the sender (dispatch) and the API (preview, test-send), so both render the same
content: the template version pinned at scheduling when there is one, else the template as it
is now; the sender fields of the campaign, defaulting to the account's.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from murmur.db.tables import accounts, template_versions, templates
from murmur.domain.errors import InvalidInput


@dataclass(frozen=True)
class CampaignContent:
    """A campaign ready to render (`murmur.rendering.message.CampaignSource`)."""

    campaign_id: int
    account_id: uuid.UUID
    subject: str
    from_name: str
    from_email: str
    reply_to: str | None
    body_html: str
    body_text: str | None
    postal_address: str
    status_reason: str | None = None


def campaign_content(conn: sa.Connection, row: dict[str, Any]) -> CampaignContent:
    """The content of the campaign `row`; InvalidInput (naming the field) when incomplete."""
    campaign_id = row["campaign_id"]
    account = (
        conn.execute(sa.select(accounts).where(accounts.c.account_id == row["account_id"]))
        .mappings()
        .one()
    )
    if row["template_id"] is None:
        raise InvalidInput(f"campaign {campaign_id}: no template chosen", "template_id")
    body = None
    if row["template_version"] is not None:
        body = conn.execute(
            sa.select(template_versions.c.body_html, template_versions.c.body_text).where(
                template_versions.c.account_id == row["account_id"],
                template_versions.c.template_id == row["template_id"],
                template_versions.c.version == row["template_version"],
            )
        ).one_or_none()
    if body is None:
        body = conn.execute(
            sa.select(templates.c.body_html, templates.c.body_text).where(
                templates.c.account_id == row["account_id"],
                templates.c.template_id == row["template_id"],
            )
        ).one_or_none()
    if body is None:
        raise InvalidInput(
            f"campaign {campaign_id}: template {row['template_id']} gone", "template_id"
        )
    from_email = row["from_email"] or account["default_from_email"]
    if not from_email:
        raise InvalidInput(f"campaign {campaign_id}: no sender address", "from_email")
    return CampaignContent(
        campaign_id=campaign_id,
        account_id=row["account_id"],
        subject=row["subject"],
        from_name=row["from_name"] or account["default_from_name"] or "",
        from_email=from_email,
        reply_to=row["reply_to"] or account["default_reply_to"],
        body_html=body.body_html,
        body_text=body.body_text,
        postal_address=account["postal_address"] or "",
        status_reason=row["status_reason"],
    )
