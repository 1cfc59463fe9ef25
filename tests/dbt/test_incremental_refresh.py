"""An incremental refresh of the per-send models gives exactly what a full rebuild gives.

The raw tables and `events` are written straight into ClickHouse (as the replication and the
consumer would); a first `dbt build` builds everything, then a second history arrives: new
events on old and new sends, a copy of an event that now names another send, a soft bounce
turned hard, a ledger row sent, one deleted and one added, a campaign's sending domain and a
contact's domain changed. The incremental `dbt build` must rebuild only the sends concerned, and
every mart must then hold exactly the rows a `dbt build --full-refresh` of the same data holds;
so must the rollups (campaign_performance_hourly by campaign, deliverability by day) after a
late event and after a send leaves the ledger, rebuilding only the campaigns and days concerned.
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
from tests.dbt.conftest import EVENT_COLUMNS, LEDGER_COLUMNS, Dbt

pytestmark = [pytest.mark.integration, pytest.mark.slow]

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
TODAY = dt.datetime.combine(NOW.date(), dt.time(0), tzinfo=dt.UTC)
D = dt.timedelta(days=1)
M = dt.timedelta(minutes=1)
ACCOUNT = uuid.UUID("00000000-0000-4000-8000-0000000000aa")
# recency is measured from a fixed instant, so both builds score contacts alike
AS_OF = {"as_of": (TODAY + dt.timedelta(hours=23)).strftime("%Y-%m-%d %H:%M:%S")}
# columns that say when a row was built, not what it holds
RUN_COLUMNS = {"built_at", "refreshed_at", "measured_at"}
MARTS = {
    "int_email_sends__outcomes": "email_record_id",
    "fct_email_sends": "email_record_id",
    "campaign_performance": "campaign_id",
    "campaign_performance_hourly": "campaign_id, hour_at",
    "deliverability_by_mailbox_provider": "sent_date, sending_domain, mailbox_provider",
    "contact_engagement": "contact_id",
    "dim_contacts": "contact_id",
    "dim_campaigns": "campaign_id",
}


def _build(dbt: Dbt, *args: str) -> None:
    dbt("build", *args, *vars_args(AS_OF), "--exclude", "tag:segment")


def _campaign(campaign_id: int, domain: str | None, synced: dt.datetime) -> list[Any]:
    return [
        campaign_id, ACCOUNT, f"campaign {campaign_id}", "Hello", None, None, "Acme",
        f"news@{domain}" if domain else None, domain, "sent", None, TODAY - 3 * D,
        synced, synced,
    ]  # fmt: skip


def _contact(contact_id: int, domain: str, synced: dt.datetime) -> list[Any]:
    return [
        contact_id, ACCOUNT, f"{contact_id:064x}", domain, "subscribed", "{}", "test", None,
        TODAY - 3 * D, synced, synced,
    ]  # fmt: skip


def _send(
    record: int, campaign: int, contact: int, status: str, sent: dt.datetime | None, synced: Any
) -> list[Any]:
    queued = (sent or TODAY) - 10 * M
    return [record, ACCOUNT, campaign, contact, status, "smtp", f"m-{record}", False, queued,
            sent, synced]  # fmt: skip


def _event(
    event_id: str,
    kind: str,
    at: dt.datetime,
    record: int | None,
    ingested: dt.datetime,
    **extra: Any,
) -> list[Any]:
    matched = record is not None
    return [
        event_id, kind, at, "smtp", record, ACCOUNT if matched else uuid.UUID(int=0),
        1 if matched else None, None, "gmail.com", extra.get("bounce_type"),
        bool(extra.get("machine_open", False)), ingested,
    ]  # fmt: skip


def _first_history(ch: Client) -> None:
    synced = NOW - dt.timedelta(hours=2)
    ingested = NOW - dt.timedelta(hours=1)
    ch.insert("raw_accounts", [[ACCOUNT, "Acme", "pro", "acme.io", TODAY - 9 * D, synced]])
    ch.insert("raw_campaigns", [_campaign(1, "news.acme.io", synced), _campaign(2, None, synced)])
    domains = ["gmail.com", "yahoo.com", "hotmail.com", "icloud.com", "corp.example", "gmail.com"]
    ch.insert("raw_contacts", [_contact(i + 1, d, synced) for i, d in enumerate(domains)])
    day = [TODAY - 2 * D + 9 * dt.timedelta(hours=1), TODAY - D + 9 * dt.timedelta(hours=1)]
    ch.insert(
        "raw_emails",
        [
            _send(1, 1, 1, "sent", day[0], synced),
            _send(2, 1, 2, "sent", day[0], synced),
            _send(3, 1, 3, "sent", day[0], synced),
            _send(4, 2, 4, "sent", day[1], synced),
            _send(5, 2, 5, "sent", day[1], synced),
            _send(6, 1, 6, "sending", None, synced),
            _send(7, 2, 1, "sent", TODAY + M, synced),
            _send(8, 2, 2, "sent", TODAY + M, synced),
            _send(9, 2, 3, "queued", None, synced),
        ],
        column_names=LEDGER_COLUMNS,
    )
    ch.insert(
        "events",
        [
            _event("e1", "delivery", day[0] + M, 1, ingested),
            _event("e2", "open", day[0] + 5 * M, 1, ingested),
            _event("e2", "open", day[0] + 5 * M, 1, ingested),  # the same event twice
            _event("e3", "delivery", day[0] + M, 2, ingested),
            _event("e4", "bounce", day[0] + M, 3, ingested, bounce_type="soft"),
            _event("e5", "delivery", day[1] + M, 4, ingested),
            _event("e6", "open", day[1] + 2 * M, 5, ingested, machine_open=True),
            _event("e7", "delivery", TODAY + 2 * M, 8, ingested),
            _event("u1", "delivery", day[1], None, ingested),  # matched no send
        ],
        column_names=EVENT_COLUMNS,
    )


def _second_history(ch: Client) -> None:
    # stamped in the past, so a later refresh sees nothing new however fast the builds run
    synced = NOW - dt.timedelta(minutes=30)
    ingested = NOW - dt.timedelta(minutes=30)
    day = [TODAY - 2 * D + 9 * dt.timedelta(hours=1), TODAY - D + 9 * dt.timedelta(hours=1)]
    ch.insert(
        "events",
        [
            _event("e8", "open", TODAY + 3 * M, 2, ingested),  # a late open of an old send
            _event("e9", "bounce", day[0] + 9 * M, 3, ingested, bounce_type="hard"),
            _event("e10", "delivery", TODAY + 4 * M, 6, ingested),
            _event("e11", "click", TODAY + 5 * M, 7, ingested),
            _event("e5", "delivery", day[1] + M, 5, ingested),  # e5 now names send 5, not 4
        ],
        column_names=EVENT_COLUMNS,
    )
    ch.insert(
        "raw_emails",
        [
            _send(6, 1, 6, "sent", TODAY + 6 * M, synced),
            _send(10, 2, 4, "sent", TODAY + 7 * M, synced),
        ],
        column_names=LEDGER_COLUMNS,
    )
    ch.command("delete from raw_emails where email_record_id = 8")
    ch.insert("raw_campaigns", [_campaign(2, "mail.acme.io", synced)])
    ch.insert("raw_contacts", [_contact(6, "yahoo.com", synced)])


def _snapshot(ch: Client) -> dict[str, list[tuple[Any, ...]]]:
    out: dict[str, list[tuple[Any, ...]]] = {}
    for table, order in MARTS.items():
        names = [r[0] for r in ch.query(f"describe table `{table}`").result_rows]
        columns = ", ".join(f"`{n}`" for n in names if n not in RUN_COLUMNS)
        out[table] = ch.query(f"select {columns} from `{table}` order by {order}").result_rows
    return out


def _built_now(ch: Client, table: str) -> set[int]:
    rows = ch.query(
        f"select email_record_id from `{table}` where built_at = (select max(built_at) from"
        f" `{table}`)"
    ).result_rows
    return {int(r[0]) for r in rows}


def test_an_incremental_refresh_equals_a_full_rebuild_and_rebuilds_only_what_changed(
    ch: Client, dbt: Dbt
) -> None:
    ensure_tables(ch, SPECS)
    _first_history(ch)
    _build(dbt)
    first = _snapshot(ch)
    assert len(first["fct_email_sends"]) == 8  # every send but the queued one without events

    _second_history(ch)
    _build(dbt)
    # only the sends concerned were rebuilt: new events (2, 3, 6, 7; e5 moved from 4 to 5),
    # the ledger (6 sent, 10 new, 8 gone), campaign 2's domain (4, 5, 7, 10), contact 6's (6)
    assert _built_now(ch, "int_email_sends__outcomes") == {2, 3, 5, 6, 7}  # 4 has no event left
    assert _built_now(ch, "fct_email_sends") == {2, 3, 4, 5, 6, 7, 10}
    incremental = _snapshot(ch)
    assert incremental != first

    _build(dbt, "--full-refresh")
    full = _snapshot(ch)
    for table in MARTS:
        assert incremental[table] == full[table], table
    sends = {r[0]: r for r in full["fct_email_sends"]}
    assert 8 not in sends and 9 not in sends and 10 in sends
    assert 4 not in {r[0] for r in full["int_email_sends__outcomes"]}  # its only event moved

    # nothing changed since: a refresh rebuilds no send, no campaign, no day at all
    stamps = _stamps(ch)
    _build(dbt)
    assert _snapshot(ch) == full
    assert _built_now(ch, "fct_email_sends") == set(sends)  # the full build's rows, untouched
    assert _stamps(ch) == stamps

    # the rollups rebuild only the campaigns and days whose sends changed, or left the ledger
    late = TODAY - 2 * D + 9 * dt.timedelta(hours=1) + 20 * M
    ingested = NOW - dt.timedelta(minutes=20)
    moved = _event("e3", "delivery", TODAY - 2 * D + 9 * dt.timedelta(hours=1) + M, 1, ingested)
    # a late open, and a new copy of e3 naming send 1 (campaign 1 and that day too), not 2: an
    # event whose copies name different sends, found after the refreshes began keeping them
    ch.insert(
        "events", [_event("e12", "open", late, 1, ingested), moved], column_names=EVENT_COLUMNS
    )
    _build(dbt)
    assert _built_now(ch, "int_email_sends__outcomes") == {1, 2}
    assert _keys_built_now(ch, "campaign_performance_hourly", "campaign_id") == {1}
    assert _keys_built_now(ch, "deliverability_by_mailbox_provider", "sent_date") == {late.date()}
    ch.command("delete from raw_emails where email_record_id = 4")  # campaign 2, day -1
    _build(dbt)
    assert _keys_built_now(ch, "campaign_performance_hourly", "campaign_id") == {2}
    assert _keys_built_now(ch, "deliverability_by_mailbox_provider", "sent_date") == {
        (TODAY - D).date()
    }
    # send 2 alone again: it must read every copy of e3, whose latest copy names send 1 now
    late_open = _event("e13", "open", TODAY + 8 * M, 2, NOW - dt.timedelta(minutes=10))
    ch.insert("events", [late_open], column_names=EVENT_COLUMNS)
    _build(dbt)
    assert _built_now(ch, "int_email_sends__outcomes") == {2}
    incremental = _snapshot(ch)
    _build(dbt, "--full-refresh")
    assert _snapshot(ch) == incremental


def _stamps(ch: Client) -> dict[str, Any]:
    """Per incremental mart, its newest `built_at`."""
    tables = [t for t in MARTS if t not in ("campaign_performance", "contact_engagement")]
    tables = [t for t in tables if not t.startswith("dim_")]
    return {t: ch.command(f"select max(built_at) from `{t}`") for t in tables}


def _keys_built_now(ch: Client, table: str, key: str) -> set[Any]:
    rows = ch.query(
        f"select distinct {key} from `{table}` where built_at = (select max(built_at) from"
        f" `{table}`)"
    ).result_rows
    return {r[0] for r in rows}
