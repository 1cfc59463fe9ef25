"""A scripted history for the analytics tests: rows written straight into Postgres and `events`.

Test-only helpers: Postgres rows go through SQLAlchemy Core on the real tables, events are
inserted into the consumer's `events` table (created in conftest).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa
from clickhouse_connect.driver.client import Client

from murmur.db.tables import campaigns, contacts, emails, templates
from murmur.events import make_event_id

EVENT_COLUMNS = [
    "event_id",
    "type",
    "timestamp",
    "provider",
    "email_record_id",
    "account_id",
    "campaign_id",
    "contact_id",
    "recipient_domain",
    "bounce_type",
    "url",
    "machine_open",
    "ingested_at",
]
_NIL = uuid.UUID(int=0)  # the consumer stores an unmatched event's account as the nil UUID


def add_contact(conn: sa.Connection, account_id: uuid.UUID, email: str, **fields: Any) -> int:
    return int(
        conn.execute(
            contacts.insert()
            .values(account_id=account_id, email=email, **fields)
            .returning(contacts.c.contact_id)
        ).scalar_one()
    )


def add_campaign(
    conn: sa.Connection, account_id: uuid.UUID, name: str, from_email: str = "news@acme.io"
) -> int:
    template_id = conn.execute(
        templates.insert()
        .values(account_id=account_id, name=f"{name} tpl", subject="Hi", body_html="<p>hi</p>")
        .returning(templates.c.template_id)
    ).scalar_one()
    return int(
        conn.execute(
            campaigns.insert()
            .values(
                account_id=account_id,
                name=name,
                subject="Hello",
                template_id=template_id,
                from_name="Acme",
                from_email=from_email,
                status="sent",
            )
            .returning(campaigns.c.campaign_id)
        ).scalar_one()
    )


def add_send(
    conn: sa.Connection,
    account_id: uuid.UUID,
    campaign_id: int,
    contact_id: int,
    sent_at: dt.datetime | None,
    status: str = "sent",
) -> int:
    return int(
        conn.execute(
            emails.insert()
            .values(
                account_id=account_id,
                campaign_id=campaign_id,
                contact_id=contact_id,
                status=status,
                esp="smtp",
                sent_at=sent_at,
            )
            .returning(emails.c.email_record_id)
        ).scalar_one()
    )


class Events:
    """Collects events of one ledger row each and inserts them into `events`."""

    def __init__(self) -> None:
        self.rows: list[list[Any]] = []

    def add(
        self,
        send: tuple[uuid.UUID, int, int, int],
        type_: str,
        at: dt.datetime,
        *,
        domain: str = "example.com",
        bounce_type: str | None = None,
        url: str | None = None,
        machine_open: bool = False,
        key: str | None = None,
    ) -> str:
        account_id, campaign_id, contact_id, record_id = send
        event_id = make_event_id("test", type_, key or f"{record_id}-{type_}-{at.isoformat()}")
        self.rows.append(
            [
                event_id,
                type_,
                at,
                "test",
                record_id,
                account_id or _NIL,
                campaign_id,
                contact_id,
                domain,
                bounce_type,
                url,
                machine_open,
                dt.datetime.now(dt.UTC),
            ]
        )
        return event_id

    def insert(self, ch: Client) -> None:
        if self.rows:
            ch.insert("events", self.rows, column_names=EVENT_COLUMNS)
        self.rows = []
