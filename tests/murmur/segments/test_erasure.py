"""An erased contact leaves every segment, current and past, at the next replication run."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from clickhouse_connect.driver.client import Client

from murmur.analytics.erasure import leftovers
from murmur.analytics.run import replicate_all
from murmur.analytics.segments import HISTORY_TABLE, MEMBERSHIP_TABLE, members_at
from murmur.analytics.tables import CONTACT_PII, CONTACTS
from murmur.db.tables import contacts, segments
from murmur.domain.gdpr import erase_contact
from murmur.domain.segment_refresh import refresh_criteria_segment
from tests.murmur.conftest import MakeAccount
from tests.murmur.segments.marts import create_sources
from tests.pipelines.history import add_contact

pytestmark = pytest.mark.integration
T1 = dt.datetime(2026, 9, 1, tzinfo=dt.UTC)
T2 = dt.datetime(2026, 9, 2, tzinfo=dt.UTC)


def test_an_erased_contact_leaves_membership_and_history_at_the_next_run(
    ch: Client, db_engine: sa.Engine, migrated_db_url: str, make_account: MakeAccount
) -> None:
    account_id, _ = make_account()
    with db_engine.begin() as conn:
        ids = [
            add_contact(conn, account_id, f"e{i}@erase.test", custom_fields={"v": 1})
            for i in range(3)
        ]
        segment_id = conn.execute(
            segments.insert()
            .values(
                account_id=account_id,
                name="v",
                kind="criteria",
                definition={"all": [{"field": "custom_fields.v", "op": "eq", "value": 1}]},
            )
            .returning(segments.c.segment_id)
        ).scalar_one()
    create_sources(ch)
    replicate_all(migrated_db_url, ch, (CONTACTS, CONTACT_PII))
    refresh_criteria_segment(db_engine, ch, segment_id, T1)
    with db_engine.begin() as conn:  # the first contact leaves: it is in the history only
        conn.execute(
            contacts.update()
            .where(contacts.c.contact_id == ids[0])
            .values(custom_fields={"v": 2}, updated_at=sa.func.now())
        )
    replicate_all(migrated_db_url, ch, (CONTACTS, CONTACT_PII))
    refresh_criteria_segment(db_engine, ch, segment_id, T2)
    assert members_at(ch, account_id, segment_id, at=T1) == ids

    with db_engine.begin() as conn:
        erase_contact(conn, account_id, ids[0], actor="test")
        erase_contact(conn, account_id, ids[1], actor="test")
    run = replicate_all(migrated_db_url, ch, (CONTACTS, CONTACT_PII))

    assert run.erased[MEMBERSHIP_TABLE] == 1 and run.erased[HISTORY_TABLE] >= 2
    assert members_at(ch, account_id, segment_id) == [ids[2]]
    assert members_at(ch, account_id, segment_id, at=T1) == [ids[2]]
    segment_leftovers = [t for t, _, _ in leftovers(ch, run.keys) if t.startswith("segment")]
    assert segment_leftovers == []
