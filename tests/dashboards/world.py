"""A small reporting world for the dashboard tests: two accounts, users, a campaign with known
outcomes, suppressions, a segment with membership, and the marts built by the real pipeline.

The history is the one of tests/pipelines (six sends with scripted events), so the expected
mart numbers are known; one deferral is added. Segment membership follows the contract of the
segments work (issue 11): `segment_membership` and `segment_membership_history` in ClickHouse.
"""

from __future__ import annotations

import datetime as dt
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
from tests.pipelines.history import Events, add_campaign, add_contact, add_send

PASSWORD = "correct horse battery staple"
T0 = dt.datetime.combine(
    dt.datetime.now(dt.UTC).date() - dt.timedelta(days=2), dt.time(8), tzinfo=dt.UTC
)
M = dt.timedelta(minutes=1)
H = dt.timedelta(hours=1)

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
    names = {
        "alice": "alice@gmail.com",  # delivered, human open, click
        "bob": "bob@googlemail.com",  # delivered, machine open only
        "carol": "carol@yahoo.com",  # soft then hard bounce
        "dave": "dave@hotmail.com",  # deferral, soft bounce, then delivered; complaint
        "erin": "erin@icloud.com",  # delivered, human open, unsubscribe
        "frank": "frank@corp.example",  # no event at all
    }
    with engine.begin() as conn:
        contact = {k: add_contact(conn, account_id, v) for k, v in names.items()}
        campaign = add_campaign(conn, account_id, "November news", from_email="news@acme.io")
        record = {k: add_send(conn, account_id, campaign, c, T0) for k, c in contact.items()}
        suppress(conn, account_id, names["carol"], "bounce", "test")
        suppress(conn, account_id, names["erin"], "unsubscribe", "test")
    ev = Events()

    def send(k: str) -> tuple[uuid.UUID, int, int, int]:
        return (account_id, campaign, contact[k], record[k])

    for k in ("alice", "bob", "erin"):
        ev.add(send(k), "delivery", T0 + M)
    ev.add(send("alice"), "open", T0 + H + 5 * M)
    ev.add(send("alice"), "open", T0 + H + 9 * M)
    ev.add(send("alice"), "click", T0 + 2 * H, url="https://acme.io/sale")
    ev.add(send("bob"), "open", T0 + H, machine_open=True)
    ev.add(send("carol"), "bounce", T0 + 10 * M, bounce_type="soft")
    ev.add(send("carol"), "bounce", T0 + 20 * M, bounce_type="hard")
    ev.add(send("dave"), "deferral", T0 + 2 * M, domain="hotmail.com")
    ev.add(send("dave"), "bounce", T0 + 5 * M, bounce_type="soft")
    ev.add(send("dave"), "delivery", T0 + 30 * M)
    ev.add(send("dave"), "complaint", T0 + 3 * H)
    ev.add(send("erin"), "open", T0 + H)
    ev.add(send("erin"), "unsubscribe", T0 + H + M)
    ev.insert(ch)
    return campaign, contact, names


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
    from dagster_dbt import DbtCliResource

    from pipelines.defs.dbt.assets import build_dbt_assets
    from pipelines.defs.dbt.project import dbt_executable, dbt_project
    from pipelines.defs.replication.assets import postgres_replication
    from pipelines.lib.resources import ClickHouseResource, PostgresResource

    resources = {
        "clickhouse": ClickHouseResource(
            url=settings.clickhouse_url,
            database=settings.clickhouse_database,
            state_dir=str(settings.state_dir),
        ),
        "postgres": PostgresResource(url=settings.postgres_url),
        "dbt": DbtCliResource(project_dir=dbt_project(), dbt_executable=dbt_executable()),
    }
    home = Path(settings.state_dir) / "dagster"
    home.mkdir(parents=True, exist_ok=True)
    with dg.DagsterInstance.local_temp(str(home)) as instance:
        unpartitioned, daily = build_dbt_assets(dbt_project())
        result = dg.materialize(
            [postgres_replication, unpartitioned], resources=resources, instance=instance
        )
        if not result.success:
            raise RuntimeError("the analytics refresh failed")
        result = dg.materialize(
            [daily], partition_key=T0.date().isoformat(), resources=resources, instance=instance
        )
        if not result.success:
            raise RuntimeError("the daily refresh failed")
