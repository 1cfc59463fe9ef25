"""Campaign lifecycle: draft → scheduled → sending → sent | cancelled, and its rules.

Sending is two steps so no row lock is held while templates render: `check_send` runs every
check (rendering included) without locks, then `schedule_checked` re-verifies under the row lock
that nothing changed and schedules the campaign with the checked template version pinned. At
dispatch the sender calls `dispatch_check` (renders the pinned version, re-checks the sender
identity and postal address) and, on failure, `fail_campaign`.

There is no `failed` status (the schema allows draft, scheduled, sending, sent, cancelled): a
failed campaign is `cancelled` with its `status_reason` saying why.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Literal, get_args

import sqlalchemy as sa

from murmur.db.tables import campaigns, segments, templates
from murmur.domain.audit import audit
from murmur.domain.campaign_checks import (
    CampaignNotReady,
    Problem,
    blank,
    reference_problems,
    render_problems,
    send_problems,
    sender_problems,
)
from murmur.domain.rendering import RenderError, check_syntax
from murmur.domain.templates import pinned_version

__all__ = ["CampaignNotReady", "send_problems"]

CampaignStatus = Literal["draft", "scheduled", "sending", "sent", "cancelled"]
STATUSES: tuple[str, ...] = get_args(CampaignStatus)
TRANSITIONS: dict[str, frozenset[str]] = {
    "draft": frozenset({"scheduled", "cancelled"}),
    "scheduled": frozenset({"draft", "sending", "cancelled"}),
    "sending": frozenset({"sent", "cancelled"}),
    "sent": frozenset(),
    "cancelled": frozenset(),
}
EDITABLE = frozenset({"draft"})
DELETABLE = frozenset({"draft", "cancelled"})
DISPATCHABLE = frozenset({"scheduled", "sending"})
FAILED = "cancelled"  # the closest existing status to "failed" (see the module docstring)
REQUIRED = ("name", "subject")
# fields whose values the send checks depend on: a change between check and lock is a 409
CHECKED = ("subject", "template_id", "segment_id", "from_name", "from_email", "status")


class IllegalTransition(Exception):
    """The campaign's current status does not allow the requested one."""


class InvalidCampaign(ValueError):
    """A campaign field breaks a rule; `field` names it."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class CampaignChanged(Exception):
    """The campaign or its template changed while it was being checked; send again."""


@dataclass(frozen=True)
class SendCheck:
    """The outcome of `check_send`: what was checked, and what is wrong (empty: ready)."""

    campaign: dict[str, Any]
    template_version: int | None
    problems: list[Problem]


def check_transition(current: str, target: str) -> None:
    if target not in TRANSITIONS.get(current, frozenset()):
        allowed = ", ".join(sorted(TRANSITIONS.get(current, ()))) or "none (final)"
        raise IllegalTransition(
            f"campaign is {current}; cannot move to {target} (allowed: {allowed})"
        )


def get_campaign(
    conn: sa.Connection, account_id: uuid.UUID, campaign_id: int, for_update: bool = False
) -> dict[str, Any] | None:
    query = sa.select(campaigns).where(
        campaigns.c.account_id == account_id, campaigns.c.campaign_id == campaign_id
    )
    row = conn.execute(query.with_for_update() if for_update else query).mappings().first()
    return dict(row) if row is not None else None


def transition(
    conn: sa.Connection,
    account_id: uuid.UUID,
    campaign_id: int,
    target: str,
    actor: str = "system",
    *,
    action: str | None = None,
    **values: Any,
) -> dict[str, Any] | None:
    """Move the campaign to `target` (row-locked); None if it does not exist in the account."""
    current = get_campaign(conn, account_id, campaign_id, for_update=True)
    if current is None:
        return None
    check_transition(current["status"], target)
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
    details: dict[str, Any] = {"from": current["status"], "to": target}
    if values.get("status_reason"):
        details["reason"] = values["status_reason"]
    audit(conn, account_id, actor, action or f"campaign.{target}", "campaign", campaign_id, details)
    return dict(row)


def check_fields(conn: sa.Connection, account_id: uuid.UUID, values: dict[str, Any]) -> None:
    """InvalidCampaign for a blank required field, a bad subject or an unknown reference."""
    for field in REQUIRED:
        if field in values and blank(values[field]):
            raise InvalidCampaign(field, "must not be null or blank")
    if "from_name" in values and values["from_name"] is not None and blank(values["from_name"]):
        raise InvalidCampaign("from_name", "must not be blank (only whitespace)")
    if values.get("subject"):
        try:
            check_syntax(values["subject"])
        except RenderError as exc:
            raise InvalidCampaign("subject", f"template syntax error: {exc}") from None
    for field, table, what in (
        ("template_id", templates, "template"),
        ("segment_id", segments, "segment"),
    ):
        ref = values.get(field)
        if ref is None:
            continue
        key = next(iter(table.primary_key.columns))
        query = sa.select(key).where(table.c.account_id == account_id, key == ref)
        if conn.execute(query).first() is None:
            raise InvalidCampaign(field, f"{what} {ref} not found")


def create_campaign(
    conn: sa.Connection, account_id: uuid.UUID, values: dict[str, Any], actor: str
) -> dict[str, Any]:
    """Insert a draft campaign; sender fields default to the account's at send time."""
    check_fields(conn, account_id, values)
    insert = campaigns.insert().values(account_id=account_id, **values).returning(*campaigns.c)
    row = dict(conn.execute(insert).mappings().one())
    audit(conn, account_id, actor, "campaign.create", "campaign", row["campaign_id"])
    return row


def update_campaign(
    conn: sa.Connection,
    account_id: uuid.UUID,
    campaign_id: int,
    values: dict[str, Any],
    actor: str,
) -> dict[str, Any] | None:
    """Edit a draft (IllegalTransition in any other status); None if absent."""
    current = get_campaign(conn, account_id, campaign_id, for_update=True)
    if current is None:
        return None
    if current["status"] not in EDITABLE:
        raise IllegalTransition(
            f"campaign is {current['status']}; only draft campaigns can be edited"
        )
    check_fields(conn, account_id, values)
    if not values:
        return current
    row = (
        conn.execute(
            campaigns.update()
            .where(campaigns.c.account_id == account_id, campaigns.c.campaign_id == campaign_id)
            .values(**values, updated_at=sa.func.now())
            .returning(*campaigns.c)
        )
        .mappings()
        .one()
    )
    details = {"fields": sorted(values)}
    audit(conn, account_id, actor, "campaign.update", "campaign", campaign_id, details)
    return dict(row)


def delete_campaign(
    conn: sa.Connection, account_id: uuid.UUID, campaign_id: int, actor: str
) -> bool:
    """Delete a draft or cancelled campaign (IllegalTransition otherwise); False if absent."""
    current = get_campaign(conn, account_id, campaign_id, for_update=True)
    if current is None:
        return False
    if current["status"] not in DELETABLE:
        raise IllegalTransition(
            f"campaign is {current['status']}; only draft or cancelled can be deleted"
        )
    conn.execute(
        campaigns.delete().where(
            campaigns.c.account_id == account_id, campaigns.c.campaign_id == campaign_id
        )
    )
    audit(conn, account_id, actor, "campaign.delete", "campaign", campaign_id)
    return True


def check_send(conn: sa.Connection, account_id: uuid.UUID, campaign_id: int) -> SendCheck | None:
    """Every send check, rendering included, without locks; None if the campaign is absent."""
    campaign = get_campaign(conn, account_id, campaign_id)
    if campaign is None:
        return None
    if campaign["status"] != "draft":
        raise IllegalTransition(f"campaign is {campaign['status']}; only a draft can be sent")
    problems = sender_problems(conn, account_id, campaign)
    references, template = reference_problems(conn, account_id, campaign)
    problems += references
    if template is not None:
        problems += render_problems(conn, account_id, campaign["subject"], template)
    version = template["version"] if template is not None else None
    return SendCheck(campaign, version, problems)


def schedule_checked(
    conn: sa.Connection, account_id: uuid.UUID, check: SendCheck, actor: str
) -> dict[str, Any]:
    """Schedule a checked campaign with its template version pinned.

    Under the row lock, the campaign and its template must still be what `check_send` checked
    (CampaignChanged if not); the cheap checks run again, the renders do not.
    """
    if check.problems:
        raise CampaignNotReady(check.problems)
    campaign_id = check.campaign["campaign_id"]
    current = get_campaign(conn, account_id, campaign_id, for_update=True)
    if current is None or any(current[k] != check.campaign[k] for k in CHECKED):
        raise CampaignChanged("the campaign changed while it was being checked; send it again")
    version = conn.execute(
        sa.select(templates.c.version)
        .where(
            templates.c.account_id == account_id,
            templates.c.template_id == current["template_id"],
        )
        .with_for_update(read=True)
    ).scalar()
    if version != check.template_version:
        raise CampaignChanged("the template changed while it was being checked; send again")
    problems = sender_problems(conn, account_id, current)
    problems += reference_problems(conn, account_id, current)[0]
    if problems:
        raise CampaignNotReady(problems)
    row = transition(
        conn,
        account_id,
        campaign_id,
        "scheduled",
        actor,
        scheduled_at=sa.func.coalesce(campaigns.c.scheduled_at, sa.func.now()),
        template_version=version,
        status_reason=None,
    )
    if row is None:
        raise CampaignChanged("the campaign was deleted while it was being checked")
    return row


def dispatch_check(conn: sa.Connection, account_id: uuid.UUID, campaign_id: int) -> None:
    """At dispatch: CampaignNotReady (with every reason) unless the campaign may be sent now.

    Re-checks the sender identity and the postal address, and renders the pinned template
    version under the render budget. Call it before taking row locks: rendering takes time.
    """
    campaign = get_campaign(conn, account_id, campaign_id)
    if campaign is None:
        raise CampaignNotReady([("campaign_id", f"campaign {campaign_id} not found")])
    if campaign["status"] not in DISPATCHABLE:
        raise CampaignNotReady([("status", f"campaign is {campaign['status']}, not scheduled")])
    problems = sender_problems(conn, account_id, campaign)
    references, template = reference_problems(conn, account_id, campaign)
    problems += references
    if template is not None:
        pinned = None
        if campaign["template_version"] is None:
            problems.append(("template_version", "no template version was pinned at scheduling"))
        else:
            pinned = pinned_version(
                conn, account_id, campaign["template_id"], campaign["template_version"]
            )
            if pinned is None:
                version = campaign["template_version"]
                problems.append(("template_version", f"template version {version} not found"))
        if pinned is not None:
            problems += render_problems(conn, account_id, campaign["subject"], pinned)
    if problems:
        raise CampaignNotReady(problems)


def fail_campaign(
    conn: sa.Connection, account_id: uuid.UUID, campaign_id: int, reason: str, actor: str = "sender"
) -> dict[str, Any] | None:
    """Stop a scheduled or sending campaign with a reason (status `cancelled`, see FAILED)."""
    return transition(
        conn,
        account_id,
        campaign_id,
        FAILED,
        actor,
        action="campaign.failed",
        status_reason=reason[:2000],
    )
