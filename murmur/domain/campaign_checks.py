"""What a campaign needs before mail goes out, checked when it is scheduled and at dispatch.

Each check answers `(field, reason)` pairs; an empty list means ready. Blank (whitespace-only)
sender names and postal addresses count as missing.
"""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa

from murmur.db.tables import accounts, contacts, segments, templates
from murmur.domain.rendering import SAMPLE_CONTACT, RenderError, render, template_context

Problem = tuple[str, str]


class CampaignNotReady(ValueError):
    """The campaign cannot be sent (or dispatched); `problems` lists (field, reason) pairs."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(f"{field}: {reason}" for field, reason in problems))
        self.problems = problems


def blank(value: object) -> bool:
    return value is None or not str(value).strip()


def sender_problems(
    conn: sa.Connection, account_id: uuid.UUID, campaign: dict[str, Any]
) -> list[Problem]:
    """Sender address and name (campaign or account defaults) and the postal address."""
    account = (
        conn.execute(sa.select(accounts).where(accounts.c.account_id == account_id))
        .mappings()
        .one()
    )
    problems: list[Problem] = []
    if blank(campaign["from_email"]) and blank(account["default_from_email"]):
        problems.append(("from_email", "no sender address on the campaign or the account"))
    if blank(campaign["from_name"]) and blank(account["default_from_name"]):
        problems.append(("from_name", "no sender name on the campaign or the account"))
    if blank(account["postal_address"]):
        problems.append(("postal_address", "the account has no postal address (CAN-SPAM)"))
    return problems


def reference_problems(
    conn: sa.Connection, account_id: uuid.UUID, campaign: dict[str, Any]
) -> tuple[list[Problem], dict[str, Any] | None]:
    """The segment and the template exist in the account; also answers the template row."""
    problems: list[Problem] = []
    segment_id = campaign["segment_id"]
    if segment_id is None:
        problems.append(("segment_id", "no segment chosen"))
    elif not _exists(conn, segments, account_id, segment_id):
        problems.append(("segment_id", f"segment {segment_id} not found"))
    template_id = campaign["template_id"]
    if template_id is None:
        problems.append(("template_id", "no template chosen"))
        return problems, None
    template = (
        conn.execute(
            sa.select(templates).where(
                templates.c.account_id == account_id, templates.c.template_id == template_id
            )
        )
        .mappings()
        .one_or_none()
    )
    if template is None:
        problems.append(("template_id", f"template {template_id} not found"))
        return problems, None
    return problems, dict(template)


def render_problems(
    conn: sa.Connection, account_id: uuid.UUID, subject: str, content: dict[str, Any]
) -> list[Problem]:
    """Render the subject and the template's bodies for a sample contact (under the budget)."""
    context = template_context(_sample_contact(conn, account_id))
    problems: list[Problem] = []
    for field, source, html in (
        ("subject", subject, False),
        ("template.body_html", content["body_html"], True),
        ("template.body_text", content["body_text"] or "", False),
    ):
        try:
            render(source, context, html=html)
        except RenderError as exc:
            problems.append((field, f"does not render with a sample contact: {exc}"))
    return problems


def send_problems(
    conn: sa.Connection, account_id: uuid.UUID, campaign: dict[str, Any]
) -> list[Problem]:
    """Every (field, reason) that keeps this campaign from being sent; empty when ready."""
    problems = sender_problems(conn, account_id, campaign)
    references, template = reference_problems(conn, account_id, campaign)
    problems += references
    if template is not None:
        problems += render_problems(conn, account_id, campaign["subject"], template)
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
