"""A small reporting world for the dashboard tests: two accounts, users, a campaign with known
outcomes, suppressions, a segment with membership, and the marts built by the real pipeline.

The history is the one of tests/pipelines (six sends with scripted events), so the expected
mart numbers are known; one deferral is added. Segment membership follows the contract of the
segments work (issue 11): `segment_membership` and `segment_membership_history` in ClickHouse.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from argon2 import PasswordHasher
from clickhouse_connect.driver.client import Client

from murmur.db.tables import campaigns, segments, templates, users
from murmur.domain.accounts import create_account
from murmur.domain.suppression import suppress
from murmur.settings import Settings
from tests.pipelines.history import (
    T0,
    Events,
    H,
    M,
    add_campaign,
    add_contact,
    add_send,
    scripted_history,
)

PASSWORD = "correct horse battery staple"

MEMBERSHIP_DDL = (
    """create table if not exists segment_membership (
        account_id UUID, segment_id Int64, contact_id Int64, computed_at DateTime64(3, 'UTC')
    ) engine = MergeTree order by (account_id, segment_id, contact_id)""",
    """create table if not exists segment_membership_history (
        account_id UUID, segment_id Int64, contact_id Int64,
        valid_from DateTime64(3, 'UTC'), valid_to Nullable(DateTime64(3, 'UTC'))
    ) engine = MergeTree order by (account_id, segment_id, contact_id, valid_from)""",
)


@dataclass
class World:
    settings: Settings
    account_id: uuid.UUID
    account_name: str
    other_account_id: uuid.UUID
    campaign_id: int
    other_campaign_id: int
    draft_campaign_id: int
    segment_id: int
    contacts: dict[str, int]
    emails: dict[str, str] = field(default_factory=dict)

    def user(self, role: str) -> str:
        return f"{role}@acme.test"


def add_user(conn: sa.Connection, account_id: uuid.UUID, email: str, role: str) -> None:
    conn.execute(
        users.insert().values(
            account_id=account_id,
            email=email,
            password_hash=PasswordHasher().hash(PASSWORD),
            role=role,
        )
    )


def _history(
    engine: sa.Engine, ch: Client, account_id: uuid.UUID
) -> tuple[int, dict[str, int], dict[str, str]]:
    """The scripted history with a deferral; carol (bounce) and erin (unsubscribe) suppressed."""
    history = scripted_history(engine, ch, account_id, deferral=True)
    with engine.begin() as conn:
        suppress(conn, account_id, history.emails["carol"], "bounce", "test")
        suppress(conn, account_id, history.emails["erin"], "unsubscribe", "test")
    return history.campaign, history.contact, history.emails


def _other_account(engine: sa.Engine, ch: Client) -> tuple[uuid.UUID, int]:
    """Another account with two sends: its numbers must never show up for the first one."""
    with engine.begin() as conn:
        other = create_account(conn, f"other-{uuid.uuid4().hex[:6]}")
        add_user(conn, other, "viewer@other.test", "viewer")
        c1 = add_contact(conn, other, "x@gmail.com")
        c2 = add_contact(conn, other, "y@gmail.com")
        campaign = add_campaign(conn, other, "Other news")
        r1 = add_send(conn, other, campaign, c1, T0)
        r2 = add_send(conn, other, campaign, c2, T0)
    ev = Events()
    ev.add((other, campaign, c1, r1), "delivery", T0 + M)
    ev.add((other, campaign, c2, r2), "complaint", T0 + 2 * M)
    ev.insert(ch)
    return other, campaign


def build(settings: Settings, engine: sa.Engine, ch: Client) -> World:
    """Write the history into Postgres and `events`, then build the marts (replication + dbt)."""
    name = f"acme-{uuid.uuid4().hex[:6]}"
    with engine.begin() as conn:
        account = create_account(
            conn,
            name,
            postal_address="1 Test Street, Springfield",
            default_from_name="Acme",
            default_from_email="news@acme.io",
        )
        for role in ("admin", "editor", "viewer"):
            add_user(conn, account, f"{role}@acme.test", role)
    campaign, contact, names = _history(engine, ch, account)
    other, other_campaign = _other_account(engine, ch)
    with engine.begin() as conn:
        segment_id = conn.execute(
            segments.insert()
            .values(
                account_id=account,
                name="Engaged",
                kind="criteria",
                definition={"all": [{"field": "status", "op": "eq", "value": "subscribed"}]},
            )
            .returning(segments.c.segment_id)
        ).scalar_one()
        template_id = conn.execute(
            templates.insert()
            .values(account_id=account, name="Welcome", subject="Hi",
                    body_html="<p>Hello {{ first_name }}!</p>", body_text="Hello {{ email }}")
            .returning(templates.c.template_id)
        ).scalar_one()  # fmt: skip
        draft = conn.execute(
            campaigns.insert()
            .values(account_id=account, name="December draft", subject="Hi {{ email }}",
                    template_id=template_id, segment_id=segment_id)
            .returning(campaigns.c.campaign_id)
        ).scalar_one()  # fmt: skip
    for statement in MEMBERSHIP_DDL:
        ch.command(statement)
    members = [contact["alice"], contact["bob"], contact["dave"]]
    ch.insert(
        "segment_membership",
        [[account, segment_id, c, T0] for c in members],
        column_names=["account_id", "segment_id", "contact_id", "computed_at"],
    )
    history: list[list[Any]] = [[account, segment_id, c, T0 - 24 * H, None] for c in members]
    history.append([account, segment_id, contact["erin"], T0 - 24 * H, T0 + H])
    ch.insert(
        "segment_membership_history",
        history,
        column_names=["account_id", "segment_id", "contact_id", "valid_from", "valid_to"],
    )
    materialize(settings)
    return World(
        settings=settings,
        account_id=account,
        account_name=name,
        other_account_id=other,
        campaign_id=campaign,
        other_campaign_id=other_campaign,
        draft_campaign_id=int(draft),
        segment_id=int(segment_id),
        contacts=contact,
        emails=names,
    )


def materialize(settings: Settings) -> None:
    """Replication, the dbt build and the daily partition of T0, recorded in the stack's
    Dagster instance (`<state>/dagster`), which the Pipeline health page reads."""
    import dagster as dg

    from tests.pipelines.refresh import refresh, refresh_day

    home = Path(settings.state_dir) / "dagster"
    home.mkdir(parents=True, exist_ok=True)
    with dg.DagsterInstance.local_temp(str(home)) as instance:
        refresh(settings, instance)
        refresh_day(settings, T0.date(), instance)
