"""Campaign lifecycle: draft → scheduled → sending → sent | cancelled, and send validation."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa

from murmur.db.tables import accounts, campaigns, contacts, segments, templates
from murmur.domain.audit import audit
from murmur.domain.rendering import SAMPLE_CONTACT, RenderError, render, template_context

STATUSES = ("draft", "scheduled", "sending", "sent", "cancelled")
TRANSITIONS: dict[str, frozenset[str]] = {
    "draft": frozenset({"scheduled", "cancelled"}),
    "scheduled": frozenset({"draft", "sending", "cancelled"}),
    "sending": frozenset({"sent", "cancelled"}),
    "sent": frozenset(),
    "cancelled": frozenset(),
}
EDITABLE = frozenset({"draft"})
DELETABLE = frozenset({"draft", "cancelled"})


class IllegalTransition(Exception):
    """The campaign's current status does not allow the requested one."""


def check_transition(current: str, target: str) -> None:
    if target not in TRANSITIONS.get(current, frozenset()):
        allowed = ", ".join(sorted(TRANSITIONS.get(current, ()))) or "none (final)"
        raise IllegalTransition(
            f"campaign is {current}; cannot move to {target} (allowed: {allowed})"
        )


def transition(
    conn: sa.Connection,
    account_id: uuid.UUID,
    campaign_id: int,
    target: str,
    actor: str = "system",
    **values: Any,
) -> dict[str, Any] | None:
    """Move the campaign to `target` (row-locked); None if it does not exist in the account."""
    current = conn.execute(
        sa.select(campaigns.c.status)
        .where(campaigns.c.account_id == account_id, campaigns.c.campaign_id == campaign_id)
        .with_for_update()
    ).scalar()
    if current is None:
        return None
    check_transition(current, target)
    row = (
        conn.execute(
            campaigns.update()
            .where(campaigns.c.account_id == account_id, campaigns.c.campaign_id == campaign_id)
            .values(status=target, updated_at=sa.func.now(), **values)
            .returning(*campaigns.c)
        )
        .mappings()
        .one()
    )
    details = {"from": current, "to": target}
    audit(conn, account_id, actor, f"campaign.{target}", "campaign", campaign_id, details)
    return dict(row)


def send_problems(
    conn: sa.Connection, account_id: uuid.UUID, campaign: dict[str, Any]
) -> list[tuple[str, str]]:
    """(field, reason) pairs that keep this campaign from being sent; empty when ready."""
    problems: list[tuple[str, str]] = []
    account = (
        conn.execute(sa.select(accounts).where(accounts.c.account_id == account_id))
        .mappings()
        .one()
    )
    if not (campaign["from_email"] or account["default_from_email"]):
        problems.append(("from_email", "no sender address on the campaign or the account"))
    if not (campaign["from_name"] or account["default_from_name"]):
        problems.append(("from_name", "no sender name on the campaign or the account"))
    if not account["postal_address"]:
        problems.append(("postal_address", "the account has no postal address (CAN-SPAM)"))
    if campaign["segment_id"] is None:
        problems.append(("segment_id", "no segment chosen"))
    elif not _exists(conn, segments, account_id, campaign["segment_id"]):
        problems.append(("segment_id", f"segment {campaign['segment_id']} not found"))
    if campaign["template_id"] is None:
        problems.append(("template_id", "no template chosen"))
        return problems
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
        problems.append(("template_id", f"template {campaign['template_id']} not found"))
        return problems
    context = template_context(_sample_contact(conn, account_id))
    for field, source, html in (
        ("subject", campaign["subject"], False),
        ("template.body_html", template["body_html"], True),
        ("template.body_text", template["body_text"] or "", False),
    ):
        try:
            render(source, context, html=html)
        except RenderError as exc:
            problems.append((field, f"does not render with a sample contact: {exc}"))
    return problems


def _exists(conn: sa.Connection, table: sa.Table, account_id: uuid.UUID, object_id: int) -> bool:
    key = next(iter(table.primary_key.columns))
    query = sa.select(key).where(table.c.account_id == account_id, key == object_id)
    return conn.execute(query).first() is not None


def _sample_contact(conn: sa.Connection, account_id: uuid.UUID) -> dict[str, Any]:
    row = (
        conn.execute(
            sa.select(contacts)
            .where(contacts.c.account_id == account_id, contacts.c.status == "subscribed")
            .order_by(contacts.c.contact_id)
            .limit(1)
        )
        .mappings()
        .first()
    )
    return dict(row) if row is not None else dict(SAMPLE_CONTACT)
