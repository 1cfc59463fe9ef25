"""A scripted history for the analytics tests: rows written straight into Postgres and `events`.

Test-only helpers: Postgres rows go through SQLAlchemy Core on the real tables, events are
inserted into the consumer's `events` table (created in conftest). `scripted_history` is the
campaign with known outcomes whose mart numbers the pipelines and dashboard tests expect.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
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
# Two days ago at 08:00 UTC: every event of the history falls on one day, within 7 days of now.
T0 = dt.datetime.combine(
    dt.datetime.now(dt.UTC).date() - dt.timedelta(days=2), dt.time(8), tzinfo=dt.UTC
)
M = dt.timedelta(minutes=1)
H = dt.timedelta(hours=1)
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
    """Collects events of one ledger row each and inserts them into `events`.

    Also the `events` writer of tests/murmur/segments/marts.py, which gives each event the id
    and ingest time of its mart row (`event_id`, `ingested_at`) and no recipient domain.
    """

    def __init__(self) -> None:
        self.rows: list[list[Any]] = []

    def add(
        self,
        send: tuple[uuid.UUID, int | None, int | None, int | None],
        type_: str,
        at: dt.datetime,
        *,
        domain: str | None = "example.com",
        bounce_type: str | None = None,
        url: str | None = None,
        machine_open: bool = False,
        key: str | None = None,
        event_id: str | None = None,
        ingested_at: dt.datetime | None = None,
    ) -> str:
        account_id, campaign_id, contact_id, record_id = send
        if event_id is None:
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
                ingested_at or dt.datetime.now(dt.UTC),
            ]
        )
        return event_id

    def insert(self, ch: Client) -> None:
        if self.rows:
            ch.insert("events", self.rows, column_names=EVENT_COLUMNS)
        self.rows = []


@dataclass(frozen=True)
class History:
    campaign: int
    contact: dict[str, int]  # name → contact_id
    record: dict[str, int]  # name → email_record_id
    emails: dict[str, str]  # name → address


def scripted_history(
    engine: sa.Engine,
    ch: Client,
    account_id: uuid.UUID,
    *,
    deferral: bool = False,
    duplicate_open: bool = False,
) -> History:
    """Six sends at T0 of one campaign, "November news" from news@acme.io, with known outcomes.

    `deferral` adds a deferral before dave's soft bounce; `duplicate_open` delivers alice's
    first open twice (the same event id: it counts once).
    """
    emails = {
        "alice": "alice@gmail.com",  # delivered, human open, click
        "bob": "bob@googlemail.com",  # delivered, machine open only
        "carol": "carol@yahoo.com",  # soft then hard bounce
        "dave": "dave@hotmail.com",  # (deferral,) soft bounce, then delivered; complaint
        "erin": "erin@icloud.com",  # delivered, human open, unsubscribe
        "frank": "frank@corp.example",  # no event at all
    }
    with engine.begin() as conn:
        contact = {k: add_contact(conn, account_id, v) for k, v in emails.items()}
        campaign = add_campaign(conn, account_id, "November news", from_email="news@acme.io")
        record = {k: add_send(conn, account_id, campaign, c, T0) for k, c in contact.items()}
    ev = Events()

    def send(k: str) -> tuple[uuid.UUID, int, int, int]:
        return (account_id, campaign, contact[k], record[k])

    for k in ("alice", "bob", "erin"):
        ev.add(send(k), "delivery", T0 + M)
    ev.add(send("alice"), "open", T0 + H + 5 * M)
    if duplicate_open:
        ev.add(send("alice"), "open", T0 + H + 5 * M)
    ev.add(send("alice"), "open", T0 + H + 9 * M)
    ev.add(send("alice"), "click", T0 + 2 * H, url="https://acme.io/sale")
    ev.add(send("bob"), "open", T0 + H, machine_open=True)
    ev.add(send("carol"), "bounce", T0 + 10 * M, bounce_type="soft")
    ev.add(send("carol"), "bounce", T0 + 20 * M, bounce_type="hard")
    if deferral:
        ev.add(send("dave"), "deferral", T0 + 2 * M, domain="hotmail.com")
    ev.add(send("dave"), "bounce", T0 + 5 * M, bounce_type="soft")
    ev.add(send("dave"), "delivery", T0 + 30 * M)
    ev.add(send("dave"), "complaint", T0 + 3 * H)
    ev.add(send("erin"), "open", T0 + H)
    ev.add(send("erin"), "unsubscribe", T0 + H + M)
    ev.insert(ch)
    return History(campaign, contact, record, emails)
