"""The ingest-time rollup `contact_last_events` answers exactly what the events answer.

The consumer's DDL (ingestion/consumer/schema.py) creates the rollup with its materialized view
and backfills the events stored before it existed. Here a history is written in pieces around
that moment (old events, then several inserts through the view, a retried insert, an event
without a contact, another account), and every definition compiled with the rollup must select
exactly what it selects over the events alone; an erased contact leaves the rollup too.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from clickhouse_connect.driver.client import Client

from ingestion.consumer.schema import ROLLUP_TABLE, ddl
from murmur.analytics.erasure import leftovers
from murmur.analytics.run import replicate_all
from murmur.analytics.segments import event_rollup_ready
from murmur.analytics.tables import CONTACT_PII, CONTACTS, create_sql
from murmur.domain.gdpr import erase_contact
from murmur.domain.segment_sql import compile_segment, rollup_answers
from tests.murmur.conftest import MakeAccount
from tests.murmur.segments.marts import MART_DDL, add_events, create_sources
from tests.pipelines.history import add_contact

pytestmark = pytest.mark.integration

NOW = dt.datetime(2026, 8, 31, 12, tzinfo=dt.UTC)
EVENTS = ("delivery", "open", "click", "bounce")


def ago(days: float) -> dt.datetime:
    return NOW - dt.timedelta(days=days)


def _ids(ch: Client, account_id: uuid.UUID, definition: Any, rollup: bool) -> set[int]:
    compiled = compile_segment(definition, account_id, NOW, rollup=rollup)
    assert (ROLLUP_TABLE in compiled.tables) == (rollup and _answerable(definition))
    rows = ch.query(compiled.sql, parameters=compiled.parameters).result_rows
    return {int(r[0]) for r in rows}


def _answerable(item: Any) -> bool:
    """Whether some event condition in the definition is one the rollup answers."""
    if isinstance(item, dict):
        if "event" in item:
            return rollup_answers(item)
        return any(_answerable(v) for v in item.values())
    if isinstance(item, list):
        return any(_answerable(v) for v in item)
    return False


@pytest.fixture(scope="module")
def history(
    db_engine: sa.Engine, make_account: MakeAccount, migrated_db_url: str, ch: Client
) -> tuple[uuid.UUID, list[int]]:
    """12 contacts; events before the rollup existed, then through its view, in pieces."""
    account_id, _ = make_account()
    other, _ = make_account()
    with db_engine.begin() as conn:
        ids = [
            add_contact(
                conn,
                account_id,
                f"r{i}@rollup.test",
                custom_fields={"plan": "pro" if i % 3 else "free"},
            )
            for i in range(12)
        ]
    # the consumer's events table as it was before the rollup: no view, no rollup yet
    events_only = ddl(ch.database)[:2]
    for statement in events_only:
        ch.command(statement)
    assert not event_rollup_ready(ch)
    create_sources_without_rollup(ch)
    # contact i: its events are spread over days and types by i; some before the rollup
    old = [
        {"contact_id": c, "event_type": EVENTS[i % 4], "event_at": ago(10 + 7 * i)}
        for i, c in enumerate(ids)
    ]
    add_events(ch, account_id, old)
    create_sources(ch)  # creates the rollup and its view, backfills, marks it ready
    assert event_rollup_ready(ch)
    for part in range(3):  # three inserts through the view: three unmerged parts
        add_events(
            ch,
            account_id,
            [
                {
                    "contact_id": c,
                    "event_type": EVENTS[(i + part) % 4],
                    "event_at": ago(1 + 11 * part + i),
                    "campaign_id": part + 1,
                }
                for i, c in enumerate(ids)
                if (i + part) % 3
            ],
        )
    # a retried delivery (same event again) and the exact 30-day boundary
    retry = {"event_id": "retried", "contact_id": ids[0], "event_type": "open"}
    add_events(ch, account_id, [{**retry, "event_at": ago(30)}])
    add_events(ch, account_id, [{**retry, "event_at": ago(30)}])
    # another account's contacts opened and bounced yesterday: none of it may leak
    add_events(
        ch,
        other,
        [{"contact_id": c, "event_type": t, "event_at": ago(1)} for c in ids for t in EVENTS],
    )
    # an unmatched event (no contact) is in `events` but in neither answer
    ch.command(
        "insert into events (event_id, type, timestamp, provider, account_id)"
        " values ('nobody', 'open', {t:DateTime64(3, 'UTC')}, 'test', {a:UUID})",
        parameters={"t": ago(1), "a": account_id},
    )
    replicate_all(migrated_db_url, ch, (CONTACTS, CONTACT_PII))
    return account_id, ids


def create_sources_without_rollup(ch: Client) -> None:
    """The marts and contact tables, so `add_events` can write before the rollup exists."""
    ch.command(create_sql(CONTACTS))
    ch.command(create_sql(CONTACT_PII))
    for statement in MART_DDL:
        ch.command(statement)


DEFINITIONS: list[Any] = [
    {"all": [{"event": kind, **window}]}
    for kind in ("opened", "clicked", "received", "bounced")
    for window in ({}, {"within_days": 1}, {"within_days": 7}, {"within_days": 30})
] + [
    {"all": [{"not": {"event": "bounced"}}]},
    {
        "all": [
            {"event": "opened", "within_days": 30},
            {"field": "custom_fields.plan", "op": "eq", "value": "pro"},
            {"not": {"event": "bounced"}},
        ]
    },
    {
        "any": [
            {"not": {"any": [{"event": "clicked", "within_days": 20}, {"event": "received"}]}},
            {"all": [{"event": "opened", "campaign_id": 2}, {"event": "bounced"}]},
        ]
    },
    {"all": [{"event": "opened", "min_count": 2}, {"event": "received", "within_days": 40}]},
]


@pytest.mark.parametrize("definition", DEFINITIONS)
def test_the_rollup_selects_exactly_what_the_events_select(
    ch: Client, history: tuple[uuid.UUID, list[int]], definition: Any
) -> None:
    account_id, ids = history
    over_events = _ids(ch, account_id, definition, rollup=False)
    assert over_events <= set(ids)
    assert _ids(ch, account_id, definition, rollup=True) == over_events


def test_the_rollup_matches_on_a_known_answer_and_is_backfilled_once(
    ch: Client, history: tuple[uuid.UUID, list[int]]
) -> None:
    account_id, ids = history
    # opened in the last 30 days: the retried open at exactly 30 days (ids[0]) counts, and
    # every contact whose open (old or new) lies within 30 days
    expected = {ids[0]}
    for i, c in enumerate(ids):
        if i % 4 == 1 and 10 + 7 * i <= 30:
            expected.add(c)
        for part in range(3):
            if (i + part) % 3 and (i + part) % 4 == 1 and 1 + 11 * part + i <= 30:
                expected.add(c)
    opened = {"all": [{"event": "opened", "within_days": 30}]}
    assert _ids(ch, account_id, opened, rollup=True) == expected
    rows = int(ch.command(f"select count() from {ROLLUP_TABLE}"))
    for statement in ddl(ch.database):  # a consumer restarting does not backfill again
        ch.command(statement)
    assert int(ch.command(f"select count() from {ROLLUP_TABLE}")) <= rows
    assert event_rollup_ready(ch)


def test_an_erased_contact_leaves_the_rollup_at_the_next_run(
    ch: Client,
    db_engine: sa.Engine,
    migrated_db_url: str,
    history: tuple[uuid.UUID, list[int]],
) -> None:
    account_id, ids = history
    gone = ids[0]
    rollup_rows = f"select count() from {ROLLUP_TABLE} where contact_id = {{c:Int64}}"
    assert int(ch.command(rollup_rows, parameters={"c": gone})) > 0
    with db_engine.begin() as conn:
        erase_contact(conn, account_id, gone, actor="test")
    run = replicate_all(migrated_db_url, ch, (CONTACTS, CONTACT_PII))
    assert gone in run.keys.contact_ids and run.erased[ROLLUP_TABLE] > 0
    assert int(ch.command(rollup_rows, parameters={"c": gone})) == 0
    assert leftovers(ch, run.keys) == []
    received = {"all": [{"event": "received"}]}
    assert gone not in _ids(ch, account_id, received, rollup=True)
