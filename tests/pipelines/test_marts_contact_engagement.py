"""contact_engagement is rebuilt per contact, and a refresh holds what a full build holds.

The raw tables and `events` are written straight into ClickHouse (as the replication and the
consumer would). After a full build, a refresh must rebuild exactly the contacts concerned: a
new event on a contact's send, a send gone from the ledger, a contact gone from the contacts
(erased or deleted), a new contact, and, with the clock, a contact whose days since engaged
changed (its recency bucket and score age); every other row stays as built. The table then
equals a `dbt build --full-refresh` at the same `as_of`.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client

from murmur.analytics.replication import ensure_tables
from murmur.analytics.tables import SPECS
from pipelines.lib.dbt.partitions import vars_args
from tests.dbt.conftest import EVENT_COLUMNS, LEDGER_COLUMNS, Dbt, dbt  # noqa: F401  (fixture)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TODAY = dt.datetime.combine(dt.datetime.now(dt.UTC).date(), dt.time(0), tzinfo=dt.UTC)
D = dt.timedelta(days=1)
H = dt.timedelta(hours=1)
ACCOUNT = uuid.UUID("00000000-0000-4000-8000-0000000000bb")
SYNCED = TODAY - 20 * D
INGESTED = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
MODELS = "+contact_engagement"  # and what it reads, not the other marts
RUN_COLUMNS = {"built_at", "measured_at"}


def _as_of(at: dt.datetime) -> dict[str, str]:
    return {"as_of": at.strftime("%Y-%m-%d %H:%M:%S")}


def _build(dbt: Dbt, as_of: dt.datetime, *args: str) -> None:  # noqa: F811
    dbt("build", "--select", MODELS, *args, *vars_args(_as_of(as_of)), "--exclude", "tag:segment")


def _contact(contact_id: int) -> list[Any]:
    return [
        contact_id, ACCOUNT, f"{contact_id:064x}", "gmail.com", "subscribed", "{}", "test", None,
        SYNCED, SYNCED, SYNCED,
    ]  # fmt: skip


def _send(record: int, contact: int, sent: dt.datetime) -> list[Any]:
    return [record, ACCOUNT, 1, contact, "sent", "smtp", f"m-{record}", False, sent, sent, SYNCED]


def _event(
    event_id: str, kind: str, at: dt.datetime, record: int, contact: int, ingested: dt.datetime
) -> list[Any]:
    return [
        event_id, kind, at, "smtp", record, ACCOUNT, 1, contact, "gmail.com", None, False,
        ingested,
    ]  # fmt: skip


def _rows(ch: Client) -> dict[int, tuple[Any, ...]]:
    names = [r[0] for r in ch.query("describe table contact_engagement").result_rows]
    columns = ", ".join(f"`{n}`" for n in names if n not in RUN_COLUMNS)
    rows = ch.query(f"select contact_id, {columns} from contact_engagement").result_rows
    return {int(r[0]): tuple(r[1:]) for r in rows}


def _built_now(ch: Client) -> set[int]:
    rows = ch.query(
        "select contact_id from contact_engagement"
        " where built_at = (select max(built_at) from contact_engagement)"
    ).result_rows
    return {int(r[0]) for r in rows}


def _buckets(ch: Client) -> dict[int, str]:
    rows = ch.query("select contact_id, recency_bucket from contact_engagement").result_rows
    return {int(r[0]): str(r[1]) for r in rows}


def test_a_refresh_rebuilds_only_the_contacts_concerned_and_equals_a_full_build(
    ch: Client,
    dbt: Dbt,  # noqa: F811
) -> None:
    ensure_tables(ch, SPECS)
    ch.insert("raw_accounts", [[ACCOUNT, "Acme", "pro", "acme.io", SYNCED, SYNCED]])
    ch.insert(
        "raw_campaigns",
        [[1, ACCOUNT, "c1", "Hi", None, None, "Acme", "a@acme.io", "acme.io", "sent", None,
          SYNCED, SYNCED, SYNCED]],
    )  # fmt: skip
    ch.insert("raw_contacts", [_contact(i) for i in range(1, 7)])
    sent = TODAY - 3 * D
    ch.insert(
        "raw_emails",
        [_send(1, 1, sent), _send(2, 2, sent), _send(3, 3, sent), _send(4, 4, sent),
         _send(5, 5, sent), _send(6, 2, sent - 100 * D)],
        column_names=LEDGER_COLUMNS,
    )  # fmt: skip
    ch.insert(
        "events",
        [
            _event("d1", "delivery", sent + H, 1, 1, INGESTED),
            _event("o2", "open", sent + 2 * H, 2, 2, INGESTED),  # contact 2: engaged 3 days ago
            _event("o3", "open", sent + 2 * H, 3, 3, INGESTED),
            _event("o4", "open", TODAY - 20 * D, 4, 4, INGESTED),  # contact 4: engaged 20 days ago
            _event("o6", "open", sent - 99 * D, 6, 2, INGESTED),
        ],
        column_names=EVENT_COLUMNS,
    )
    first_as_of = TODAY + 12 * H
    _build(dbt, first_as_of)
    first = _buckets(ch)
    assert first == {
        1: "never", 2: "engaged_7d", 3: "engaged_7d", 4: "engaged_30d", 5: "never", 6: "never",
    }  # fmt: skip
    assert _built_now(ch) == set(first)

    # the same as_of, nothing new: no contact is rebuilt
    stamp = ch.command("select max(built_at) from contact_engagement")
    _build(dbt, first_as_of)
    assert ch.command("select max(built_at) from contact_engagement") == stamp

    # contact 1 clicks; contact 2's recent send leaves the ledger (its send of 102 days before
    # stays: dormant); contact 3 is gone (erased); contact 7 is new; 15 days later contact 4's
    # 20 days become 35, while 5 and 6, never engaged, age without changing
    click = _event("c1", "click", TODAY + H, 1, 1, dt.datetime.now(dt.UTC))
    ch.insert("events", [click], column_names=EVENT_COLUMNS)
    ch.command("delete from raw_emails where email_record_id = 2")
    ch.command("delete from raw_contacts where contact_id = 3")
    ch.insert("raw_contacts", [_contact(7)])
    later = first_as_of + 15 * D
    _build(dbt, later)
    assert _built_now(ch) == {1, 2, 4, 7}
    incremental = _rows(ch)
    assert set(incremental) == {1, 2, 4, 5, 6, 7}
    assert _buckets(ch) == {
        1: "engaged_30d", 2: "dormant", 4: "engaged_90d", 5: "never", 6: "never", 7: "never",
    }  # fmt: skip

    _build(dbt, later, "--full-refresh")
    assert _rows(ch) == incremental

    # the next day, without anything new: only the engaged contacts' days changed
    _build(dbt, later + D)
    assert _built_now(ch) == {1, 2, 4}
    incremental = _rows(ch)
    _build(dbt, later + D, "--full-refresh")
    assert _rows(ch) == incremental
