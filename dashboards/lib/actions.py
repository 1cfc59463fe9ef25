"""What the pages change, through the domain functions, with the role checked here too.

A button a role may not use is disabled on the page; these checks make sure a crafted request
cannot get past that either. The actor in the audit log is `dashboards:<email>`.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from dashboards.lib.auth import SessionUser, require_role
from dashboards.lib.connection import postgres
from murmur.domain import campaigns as campaign_domain
from murmur.domain.gdpr import erase_contact, export_contact


def actor(user: SessionUser) -> str:
    return f"dashboards:{user.email}"


def export(user: SessionUser, contact_id: int) -> str | None:
    """The contact's data as JSON (admins only); None if the contact is not in the account."""
    require_role(user, "admin", "Exporting a contact")
    with postgres().connect() as conn:
        data = export_contact(conn, uuid.UUID(user.account_id), contact_id)
    return None if data is None else json.dumps(data, default=str, indent=2)


def erase(user: SessionUser, contact_id: int) -> dict[str, Any] | None:
    """Erase the contact's personal data (admins only)."""
    require_role(user, "admin", "Erasing a contact")
    with postgres().begin() as conn:
        return erase_contact(conn, uuid.UUID(user.account_id), contact_id, actor(user))


def create_campaign(user: SessionUser, values: dict[str, Any]) -> dict[str, Any]:
    require_role(user, "editor", "Creating a campaign")
    with postgres().begin() as conn:
        return campaign_domain.create_campaign(
            conn, uuid.UUID(user.account_id), values, actor(user)
        )


def schedule(user: SessionUser, campaign_id: int) -> dict[str, Any]:
    """Check, then schedule the campaign (editors and admins); CampaignNotReady lists why not."""
    require_role(user, "editor", "Scheduling a campaign")
    account = uuid.UUID(user.account_id)
    with postgres().connect() as conn:
        check = campaign_domain.check_send(conn, account, campaign_id)
    if check is None:
        raise LookupError(f"campaign {campaign_id} not found")
    with postgres().begin() as conn:
        return campaign_domain.schedule_checked(conn, account, check, actor(user))


def cancel(user: SessionUser, campaign_id: int) -> dict[str, Any]:
    require_role(user, "editor", "Cancelling a campaign")
    with postgres().begin() as conn:
        row = campaign_domain.transition(
            conn, uuid.UUID(user.account_id), campaign_id, "cancelled", actor(user)
        )
    if row is None:
        raise LookupError(f"campaign {campaign_id} not found")
    return row
