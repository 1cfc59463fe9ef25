"""Criteria compiled to ClickHouse SQL, run on a real ClickHouse over a scripted history.

Contacts are written to Postgres and copied by the real replication; events and recency buckets
are mart rows (the events also go into the consumer's `events`, whose materialized view fills
the rollup `contact_last_events`). Contact-only definitions must select exactly what the live
Postgres evaluation selects; event conditions, `not` and membership select exactly the expected
contacts, compiled over the mart alone and with the rollup answering what it can.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from clickhouse_connect.driver.client import Client

from murmur.analytics.run import replicate_all
from murmur.analytics.segments import members_at, write_membership
from murmur.analytics.tables import CONTACT_PII, CONTACTS
from murmur.db.tables import contacts
from murmur.domain.audience import audience_query
from murmur.domain.segment_sql import compile_segment
from tests.murmur.segments.marts import add_engagement, add_events, create_sources
from tests.sender.test_audience import CASES, PEOPLE

pytestmark = pytest.mark.integration

NOW = dt.datetime(2026, 6, 30, 12, tzinfo=dt.UTC)


def days_ago(n: float) -> dt.datetime:
    return NOW - dt.timedelta(days=n)


@pytest.fixture(scope="module")
def people(
    db_engine: sa.Engine,
    make_account: Callable[..., tuple[uuid.UUID, str]],
    migrated_db_url: str,
    ch: Client,
) -> tuple[uuid.UUID, dict[str, int]]:
    """ann, bob, cy, dee (tests/sender/test_audience.py) in Postgres and ClickHouse, + history."""
    account_id, _ = make_account()
    other, _ = make_account()
    with db_engine.begin() as conn:
        rows = conn.execute(
            contacts.insert().returning(contacts.c.email, contacts.c.contact_id),
            [{"account_id": account_id, **p} for p in PEOPLE],
        ).all()
        conn.execute(contacts.insert(), [{"account_id": other, **p} for p in PEOPLE])
    create_sources(ch)
    replicate_all(migrated_db_url, ch, (CONTACTS, CONTACT_PII))
    ids = {email.split("@")[0]: cid for email, cid in rows}
    ann, bob, cy, dee = ids["ann"], ids["bob"], ids["cy"], ids["dee"]
    ev: list[dict[str, Any]] = [
        # ann: campaign 1 opened 40 days ago; campaign 2 opened and clicked 5 days ago
        {"contact_id": ann, "email_record_id": 11, "campaign_id": 1, "event_type": "delivery"},
        {"contact_id": ann, "email_record_id": 11, "campaign_id": 1, "event_type": "open"},
        {"contact_id": ann, "email_record_id": 12, "campaign_id": 2, "event_type": "delivery"},
        {"contact_id": ann, "email_record_id": 12, "campaign_id": 2, "event_type": "open"},
        {
            "contact_id": ann,
            "email_record_id": 12,
            "campaign_id": 2,
            "event_type": "click",
            "url": "https://shop.test/Pricing?plan=pro",
        },
        # bob: three deliveries, never opened
        {"contact_id": bob, "email_record_id": 21, "campaign_id": 1, "event_type": "delivery"},
        {"contact_id": bob, "email_record_id": 22, "campaign_id": 2, "event_type": "delivery"},
        {"contact_id": bob, "email_record_id": 23, "campaign_id": 3, "event_type": "delivery"},
        # cy: one unopened delivery, then a hard bounce
        {"contact_id": cy, "email_record_id": 31, "campaign_id": 1, "event_type": "delivery"},
        {
            "contact_id": cy,
            "email_record_id": 32,
            "campaign_id": 2,
            "event_type": "bounce",
            "bounce_type": "hard",
        },
        # dee: a machine open 4 days ago, a soft bounce yesterday
        {"contact_id": dee, "email_record_id": 42, "campaign_id": 2, "event_type": "delivery"},
        {
            "contact_id": dee,
            "email_record_id": 42,
            "campaign_id": 2,
            "event_type": "open",
            "is_machine_open": True,
        },
        {
            "contact_id": dee,
            "email_record_id": 43,
            "campaign_id": 3,
            "event_type": "bounce",
            "bounce_type": "soft",
        },
    ]
    when = {11: 40, 12: 5, 21: 40, 22: 5, 23: 2, 31: 40, 32: 5, 42: 4, 43: 1}
    for e in ev:
        e["event_at"] = days_ago(when[e["email_record_id"]])
    add_events(ch, account_id, ev)
    # the other account's ann opened everything: none of it may leak
    other_ann = sa.select(contacts.c.contact_id).where(contacts.c.account_id == other)
    with db_engine.connect() as conn:
        other_ids = list(conn.execute(other_ann).scalars())
    add_events(
        ch,
        other,
        [{"contact_id": c, "event_type": "open", "event_at": days_ago(1)} for c in other_ids],
    )
    add_engagement(ch, account_id, {ann: "engaged_7d", bob: "never", cy: "dormant"})
    return account_id, ids


def _select(ch: Client, account_id: uuid.UUID, definition: Any, rollup: bool = False) -> set[int]:
    compiled = compile_segment(definition, account_id, NOW, rollup=rollup)
    rows = ch.query(compiled.sql, parameters=compiled.parameters).result_rows
    return {int(r[0]) for r in rows}


def _names(
    ch: Client, people: tuple[uuid.UUID, dict[str, int]], definition: Any, rollup: bool = False
) -> set[str]:
    account_id, ids = people
    by_id = {v: k for k, v in ids.items()}
    return {by_id[i] for i in _select(ch, account_id, definition, rollup)}


@pytest.mark.parametrize(("definition", "expected"), CASES)
def test_contact_conditions_select_what_the_live_postgres_evaluation_selects(
    ch: Client,
    db_engine: sa.Engine,
    people: tuple[uuid.UUID, dict[str, int]],
    definition: Any,
    expected: set[str],
) -> None:
    account_id, _ = people
    with db_engine.connect() as conn:
        live = set(conn.execute(audience_query(account_id, definition)).scalars())
    assert _names(ch, people, definition) == expected
    assert _select(ch, account_id, definition) == live


NOT_CASES = [
    ({"not": {"field": "custom_fields.plan", "op": "eq", "value": "pro"}}, {"bob", "cy"}),
    ({"not": {"field": "first_name", "op": "eq", "value": "Ann"}}, {"bob", "cy", "dee"}),
    ({"not": {"field": "consent_source", "op": "eq", "value": "x"}}, {"ann", "bob", "cy", "dee"}),
    ({"not": {"not": {"field": "custom_fields.vip", "op": "exists"}}}, {"dee"}),
    ({"not": {"any": []}}, {"ann", "bob", "cy", "dee"}),
    ({"not": {"field": "custom_fields.age", "op": "gte", "value": 18}}, {"bob", "cy", "dee"}),
    # a number extracts as the empty string: eq "" must still test the JSON type
    ({"not": {"field": "custom_fields.age", "op": "eq", "value": ""}}, {"ann", "bob", "cy", "dee"}),
]


@pytest.mark.parametrize(("inner", "expected"), NOT_CASES)
def test_not_selects_exactly_the_complement_in_clickhouse_and_in_postgres(
    ch: Client,
    db_engine: sa.Engine,
    people: tuple[uuid.UUID, dict[str, int]],
    inner: Any,
    expected: set[str],
) -> None:
    account_id, _ = people
    definition = {"all": [inner]}
    with db_engine.connect() as conn:
        live = set(conn.execute(audience_query(account_id, definition)).scalars())
    assert _names(ch, people, definition) == expected
    assert _select(ch, account_id, definition) == live


def _all(*items: Any) -> dict[str, Any]:
    return {"all": list(items)}


EVENT_CASES = [
    (_all({"event": "opened"}), {"ann", "dee"}),
    (_all({"event": "opened", "within_days": 30}), {"ann", "dee"}),
    (_all({"event": "opened", "within_days": 3}), set()),
    (_all({"event": "opened", "campaign_id": 1}), {"ann"}),
    (_all({"event": "opened", "between": ["2026-05-01", "2026-06-01"]}), {"ann"}),
    (_all({"event": "opened", "min_count": 2}), {"ann"}),
    (_all({"event": "clicked", "link_contains": "PRICING"}), {"ann"}),
    (_all({"event": "clicked", "link_contains": "/careers"}), set()),
    (_all({"event": "received", "campaign_id": 2}), {"ann", "bob", "dee"}),
    (_all({"event": "received", "unopened": True, "min_count": 3}), {"bob"}),
    (_all({"event": "received", "unopened": True}), {"bob", "cy"}),
    (_all({"event": "received", "unopened": True, "within_days": 30}), {"bob"}),
    (_all({"event": "bounced"}), {"cy", "dee"}),
    (_all({"event": "bounced", "bounce_type": "hard"}), {"cy"}),
    (_all({"not": {"event": "bounced"}}), {"ann", "bob"}),
    (_all({"engagement": "engaged_7d"}), {"ann"}),
    (_all({"engagement": ["never", "dormant"]}), {"bob", "cy", "dee"}),  # dee: not in the mart
    (
        _all(
            {"event": "opened", "within_days": 30},
            {"field": "custom_fields.plan", "op": "eq", "value": "pro"},
            {"not": {"event": "bounced"}},
        ),
        {"ann"},
    ),
    (
        {
            "any": [
                {"not": {"any": [{"event": "opened"}, {"event": "bounced"}]}},
                _all(
                    {"field": "first_name", "op": "eq", "value": "Dee"},
                    {"not": {"event": "bounced", "bounce_type": "hard"}},
                    {"engagement": "never"},
                ),
            ]
        },
        {"bob", "dee"},
    ),
]


@pytest.mark.parametrize("rollup", [False, True], ids=["mart", "rollup"])
@pytest.mark.parametrize(("definition", "expected"), EVENT_CASES)
def test_event_engagement_and_not_conditions_select_exactly_the_expected_contacts(
    ch: Client,
    people: tuple[uuid.UUID, dict[str, int]],
    definition: Any,
    expected: set[str],
    rollup: bool,
) -> None:
    assert _names(ch, people, definition, rollup) == expected


def test_member_of_reads_the_other_segments_current_membership(
    ch: Client, people: tuple[uuid.UUID, dict[str, int]]
) -> None:
    account_id, ids = people
    bounced = compile_segment(_all({"event": "bounced"}), account_id, NOW)
    write_membership(
        ch,
        account_id=account_id,
        segment_id=9001,
        select_sql=bounced.sql,
        parameters=bounced.parameters,
        computed_at=NOW,
    )
    assert set(members_at(ch, account_id, 9001)) == {ids["cy"], ids["dee"]}
    assert _names(ch, people, _all({"member_of": 9001})) == {"cy", "dee"}
    assert _names(ch, people, _all({"not": {"member_of": 9001}}, {"event": "opened"})) == {"ann"}
    # another account's segment 9001 is not this account's
    assert _select(ch, uuid.uuid4(), _all({"member_of": 9001})) == set()


def test_a_contact_copied_twice_by_the_replication_is_written_once(
    ch: Client, people: tuple[uuid.UUID, dict[str, int]]
) -> None:
    """The writer skips DISTINCT for a compiled SELECT: raw_contacts FINAL is one row per id."""
    account_id, ids = people
    ch.command(  # a second, unmerged copy of every contact (an overlapping replication run)
        "insert into raw_contacts select * from raw_contacts final where account_id = {a:UUID}",
        parameters={"a": account_id},
    )
    compiled = compile_segment(_all({"event": "opened"}), account_id, NOW, rollup=True)
    assert compiled.unique
    result = write_membership(
        ch,
        account_id=account_id,
        segment_id=9002,
        select_sql=compiled.sql,
        parameters=compiled.parameters,
        computed_at=NOW,
        unique=compiled.unique,
    )
    assert result.size == 2
    assert members_at(ch, account_id, 9002) == sorted([ids["ann"], ids["dee"]])
