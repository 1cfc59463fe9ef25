"""The sender's audience snapshot reads the segment's ClickHouse membership, then the gate.

Campaign fixtures are the sender's (tests/sender/conftest.py): `n` allowed contacts plus refused
ones (suppressed, unsubscribed, bounced, complained) and one outside the segment. Contacts reach
ClickHouse through the real replication.
"""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
import sqlalchemy as sa
from clickhouse_connect.driver.client import Client

from murmur.analytics.run import replicate_all
from murmur.analytics.segments import members_at, segment_stats, stream_member_ids
from murmur.analytics.tables import CONTACT_PII, CONTACTS
from murmur.db.tables import campaigns, contacts, emails, segments
from murmur.domain.audience import AudienceError
from murmur.domain.segment_refresh import refresh_dbt_segment
from murmur.domain.sending import DispatchError, start_dispatch
from tests.murmur.segments.marts import add_events, create_sources
from tests.sender import conftest as sender_fixtures
from tests.sender.conftest import CampaignFixture, MakeCampaign

pytestmark = pytest.mark.integration
make_campaign = sender_fixtures.make_campaign  # the sender's campaign factory


@pytest.fixture(scope="module")
def sources(ch: Client) -> Client:
    create_sources(ch)
    return ch


def _segment_of(engine: sa.Engine, c: CampaignFixture) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                sa.select(campaigns.c.segment_id).where(campaigns.c.campaign_id == c.campaign_id)
            ).scalar_one()
        )


def _ledger(engine: sa.Engine, campaign_id: int) -> set[str]:
    with engine.connect() as conn:
        return set(
            conn.execute(
                sa.select(contacts.c.email)
                .join(emails, emails.c.contact_id == contacts.c.contact_id)
                .where(emails.c.campaign_id == campaign_id)
            ).scalars()
        )


def _ids(engine: sa.Engine, account_id: uuid.UUID, addresses: set[str]) -> dict[str, int]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(contacts.c.email, contacts.c.contact_id).where(
                contacts.c.account_id == account_id, contacts.c.email.in_(sorted(addresses))
            )
        ).all()
    return {email: int(cid) for email, cid in rows}


def test_a_criteria_segment_is_refreshed_and_its_membership_gated_into_the_ledger(
    db_engine: sa.Engine, make_campaign: MakeCampaign, migrated_db_url: str, sources: Client
) -> None:
    c = make_campaign(n=10, refused_each=2)
    replicate_all(migrated_db_url, sources, (CONTACTS, CONTACT_PII))
    segment_id = _segment_of(db_engine, c)
    with db_engine.begin() as conn:
        row = start_dispatch(conn, c.campaign_id, clickhouse=sources)
    assert row["status"] == "sending"
    assert _ledger(db_engine, c.campaign_id) == c.allowed
    # the membership holds everyone the criteria match; the gate took the refused out
    stats = segment_stats(sources, c.account_id, segment_id)
    assert stats.size == 10 + 4 * 2
    at_send = members_at(sources, c.account_id, segment_id, at=stats.computed_at, limit=100)
    assert len(at_send) == 18
    with db_engine.connect() as conn:
        size = conn.execute(
            sa.select(segments.c.size).where(segments.c.segment_id == segment_id)
        ).scalar_one()
    assert size == 18
    blocks = list(stream_member_ids(sources, c.account_id, segment_id, block_rows=4))
    assert max(len(b) for b in blocks) <= 4 and sorted(i for b in blocks for i in b) == sorted(
        at_send
    )


def test_event_conditions_send_to_exactly_the_sendable_contacts_who_opened(
    db_engine: sa.Engine, make_campaign: MakeCampaign, migrated_db_url: str, sources: Client
) -> None:
    c = make_campaign(n=6, refused_each=1)
    replicate_all(migrated_db_url, sources, (CONTACTS, CONTACT_PII))
    segment_id = _segment_of(db_engine, c)
    openers = sorted(c.allowed)[:3] + sorted(c.refused)[:2]
    ids = _ids(db_engine, c.account_id, set(openers))
    now = dt.datetime.now(dt.UTC)
    add_events(
        sources,
        c.account_id,
        [
            {"contact_id": ids[e], "email_record_id": i, "event_type": "open", "event_at": now}
            for i, e in enumerate(openers)
        ],
    )
    with db_engine.begin() as conn:
        conn.execute(
            segments.update()
            .where(segments.c.segment_id == segment_id)
            .values(
                definition={
                    "all": [
                        {"field": "custom_fields.list", "op": "exists"},
                        {"event": "opened", "within_days": 1},
                    ]
                }
            )
        )
    with pytest.raises(AudienceError, match="ClickHouse only"), db_engine.begin() as conn:
        start_dispatch(conn, c.campaign_id)  # no ClickHouse: cannot be evaluated live
    with db_engine.begin() as conn:
        start_dispatch(conn, c.campaign_id, clickhouse=sources)
    assert _ledger(db_engine, c.campaign_id) == set(sorted(c.allowed)[:3])


def test_a_send_reads_fresh_events_from_the_rollup_not_only_the_marts(
    db_engine: sa.Engine, make_campaign: MakeCampaign, migrated_db_url: str, sources: Client
) -> None:
    # Regression: the send compiled its segment without the rollup, so an open ingested after
    # the last dbt run (in `events` and the rollup, not yet in the marts) was not seen.
    c = make_campaign(n=5, refused_each=1)
    replicate_all(migrated_db_url, sources, (CONTACTS, CONTACT_PII))
    segment_id = _segment_of(db_engine, c)
    openers = sorted(c.allowed)[:2]
    ids = _ids(db_engine, c.account_id, set(openers))
    now = dt.datetime.now(dt.UTC)
    add_events(
        sources,
        c.account_id,
        [
            {"contact_id": ids[e], "email_record_id": 90 + i, "event_type": "open", "event_at": now}
            for i, e in enumerate(openers)
        ],
    )
    # the next dbt run has not happened yet: the marts do not hold these opens
    sources.command(
        "delete from fct_email_events where account_id = {a:UUID}",
        parameters={"a": c.account_id},
    )
    assert sources.query(
        "select count() from fct_email_events where account_id = {a:UUID}",
        parameters={"a": c.account_id},
    ).result_rows == [(0,)]
    with db_engine.begin() as conn:
        conn.execute(
            segments.update()
            .where(segments.c.segment_id == segment_id)
            .values(definition={"all": [{"event": "opened", "within_days": 1}]})
        )
    with db_engine.begin() as conn:
        start_dispatch(conn, c.campaign_id, clickhouse=sources)
    assert _ledger(db_engine, c.campaign_id) == set(openers)


def test_a_dbt_segment_is_sendable_once_it_has_membership(
    db_engine: sa.Engine, make_campaign: MakeCampaign, sources: Client
) -> None:
    c = make_campaign(n=5, refused_each=1)
    segment_id = _segment_of(db_engine, c)
    with db_engine.begin() as conn:
        conn.execute(
            segments.update()
            .where(segments.c.segment_id == segment_id)
            .values(kind="dbt", dbt_model="seg_send_test", definition=None)
        )
    with pytest.raises(DispatchError, match="no membership yet"), db_engine.begin() as conn:
        start_dispatch(conn, c.campaign_id, clickhouse=sources)
    chosen = sorted(c.allowed)[:4] + sorted(c.refused)[:1]
    ids = _ids(db_engine, c.account_id, set(chosen))
    sources.command(
        "create table seg_send_test (account_id UUID, contact_id Int64)"
        " engine = MergeTree order by contact_id"
    )
    sources.insert(
        "seg_send_test",
        [[c.account_id, ids[e]] for e in chosen],
        column_names=["account_id", "contact_id"],
    )
    refresh_dbt_segment(db_engine, sources, segment_id, dt.datetime.now(dt.UTC))
    with db_engine.begin() as conn:
        start_dispatch(conn, c.campaign_id, clickhouse=sources)
    assert _ledger(db_engine, c.campaign_id) == set(sorted(c.allowed)[:4])
