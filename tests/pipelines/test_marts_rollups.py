"""The campaign, contact and deliverability marts after refreshes equal a full build.

A generated history (written straight into ClickHouse with `numbers()`, as the replication and
the consumer would write it: every kind of event, soft and hard bounces, machine opens, several
opens and clicks of a send) is built, then new events arrive on today's sends and ledger rows
leave: after each refresh `campaign_performance`, which is summed from
`campaign_performance_hourly`, holds the totals computed straight from `fct_email_sends`, and
every rollup holds exactly what a `dbt build --full-refresh` of the same data holds.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client

from murmur.analytics.replication import ensure_tables
from murmur.analytics.tables import SPECS
from pipelines.lib.dbt.partitions import vars_args
from tests.dbt.conftest import Dbt, dbt  # noqa: F401  (fixture)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DAYS, CAMPAIGNS, CONTACTS, SENDS = 10, 5, 150, 600
AS_OF = {"as_of": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d 23:00:00")}
KINDS = ["delivery", "open", "open", "click", "bounce", "open", "click", "complaint",
         "unsubscribe", "delivery", "bounce"]  # fmt: skip
DELIVERABILITY_KEY = "account_id, sent_date, sending_domain, mailbox_provider"
ROLLUPS = {
    "campaign_performance": "campaign_id",
    "campaign_performance_hourly": "campaign_id, hour_at",
    "deliverability_by_mailbox_provider": DELIVERABILITY_KEY,
    "contact_engagement": "contact_id",
}
RUN_COLUMNS = {"built_at", "refreshed_at", "measured_at"}
# campaign_performance's counts as the model computed them from the sends before it read the
# hourly rollup
FROM_SENDS = """
select campaign_id, count() as sends, countIf(is_delivered) as delivered,
    countIf(is_bounced) as bounced, countIf(is_hard_bounced) as hard_bounced,
    countIf(is_bounced and not is_hard_bounced) as soft_bounced,
    countIf(is_opened) as unique_opens, countIf(is_human_opened) as unique_human_opens,
    countIf(is_opened and not is_human_opened) as machine_only_opens,
    countIf(is_clicked) as unique_clicks,
    countIf(is_clicked and is_human_opened) as unique_human_open_clicks,
    countIf(is_complained) as complained, countIf(is_unsubscribed) as unsubscribed,
    sum(open_count) as total_opens, sum(click_count) as total_clicks,
    minOrNull(sent_at) as first_sent_at, maxOrNull(sent_at) as last_sent_at
from fct_email_sends group by campaign_id order by campaign_id
"""
MEASURES = (
    "campaign_id, sends, delivered, bounced, hard_bounced, soft_bounced, unique_opens,"
    " unique_human_opens, machine_only_opens, unique_clicks, unique_human_open_clicks,"
    " complained, unsubscribed, total_opens, total_clicks, first_sent_at, last_sent_at"
)


def _account(expr: str) -> str:
    return f"toUUID(concat('00000000-0000-4000-8000-', leftPad(toString({expr}), 12, '0')))"


def _generate(ch: Client) -> None:
    ensure_tables(ch, SPECS)
    now = "now64(6, 'UTC')"
    day0 = f"toDateTime64(today() - {DAYS - 1}, 6, 'UTC')"
    ch.command(
        f"insert into raw_accounts select {_account('number')}, 'a', 'pro', 'acme.io', {day0},"
        f" {now} from numbers(2)"
    )
    ch.command(
        f"insert into raw_campaigns select number, {_account('number % 2')}, 'c', 'news', null,"
        f" null, 'Acme', 'news@acme.io', if(number = 0, null, 'acme.io'), 'sent', null, {day0},"
        f" {day0}, {now} from numbers({CAMPAIGNS})"
    )
    domains = "['gmail.com', 'yahoo.com', 'hotmail.com', 'icloud.com', 'corp.example']"
    ch.command(
        f"insert into raw_contacts select number, {_account('number % 2')},"
        f" hex(SHA256(toString(number))), {domains}[number % 5 + 1], 'subscribed', '{{}}', 't',"
        f" null, {day0}, {day0}, {now} from numbers({CONTACTS})"
    )
    sent_at = f"{day0} + toIntervalDay(number % {DAYS}) + toIntervalSecond(number * 97 % 80000)"
    ch.command(
        f"insert into raw_emails select number + 1, {_account('(number % 5) % 2')}, number % 5,"
        f" number % {CONTACTS}, 'sent', 'smtp', concat('m-', toString(number)), false,"
        f" {sent_at}, {sent_at}, {now} from numbers({SENDS})"
    )
    _events(ch, 0, 6 * SENDS, today_only=False)


def _events(ch: Client, first: int, count: int, today_only: bool) -> None:
    """Event i is on send i % SENDS (or today's sends), of kind KINDS[i // SENDS % len]."""
    send = f"(number % {SENDS})" if not today_only else f"((number % 60) * {DAYS} + {DAYS - 1})"
    day0 = f"toDateTime64(today() - {DAYS - 1}, 3, 'UTC')"
    sent_at = f"{day0} + toIntervalDay({send} % {DAYS}) + toIntervalSecond({send} * 97 % 80000)"
    kinds = "[" + ", ".join(f"'{k}'" for k in KINDS) + "]"
    kind = f"{kinds}[intDiv(number, {SENDS}) % {len(KINDS)} + 1]"
    ch.command(
        "insert into events (event_id, schema_version, type, timestamp, provider,"
        " provider_event_id, email_record_id, account_id, campaign_id, contact_id, esp,"
        " recipient_domain, bounce_type, url, machine_open, ingested_at)"
        f" select concat('ev-', toString(number)), 1, {kind},"
        f" {sent_at} + toIntervalSecond(60 + number * 37 % 7200), 'smtp', null, {send} + 1,"
        f" {_account(f'({send} % 5) % 2')}, {send} % 5, {send} % {CONTACTS}, 'smtp',"
        " 'gmail.com', if(number % 3 = 0, 'hard', 'soft'), null,"
        f" {kind} = 'open' and number % 4 = 0, now64(3, 'UTC')"
        f" from numbers({first}, {count})"
    )


def _build(dbt: Dbt, *args: str) -> None:  # noqa: F811
    dbt("build", *args, *vars_args(AS_OF), "--exclude", "tag:segment")


def _snapshot(ch: Client) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for table, order in ROLLUPS.items():
        names = [r[0] for r in ch.query(f"describe table `{table}`").result_rows]
        columns = ", ".join(f"`{n}`" for n in names if n not in RUN_COLUMNS)
        out[table] = ch.query(f"select {columns} from `{table}` order by {order}").result_rows
    return out


def _assert_totals_match_the_sends(ch: Client) -> None:
    from_sends = ch.query(FROM_SENDS).result_rows
    mart = ch.query(f"select {MEASURES} from campaign_performance order by campaign_id")
    assert mart.result_rows == from_sends
    assert len(from_sends) == CAMPAIGNS


def test_refreshed_rollups_equal_a_full_build_and_the_totals_of_the_sends(
    ch: Client,
    dbt: Dbt,  # noqa: F811
) -> None:
    _generate(ch)
    _build(dbt)
    _assert_totals_match_the_sends(ch)
    totals = ch.query("select sum(hard_bounced), sum(machine_only_opens) from campaign_performance")
    assert all(v > 0 for v in totals.result_rows[0])  # the history has both

    # new events on today's sends (opens, clicks, bounces turning sends hard), sends gone
    _events(ch, 6 * SENDS, 3 * SENDS, today_only=True)
    _build(dbt)
    _assert_totals_match_the_sends(ch)
    ch.command("delete from raw_emails where email_record_id in (10, 20, 33)")
    _build(dbt)
    _assert_totals_match_the_sends(ch)
    refreshed = _snapshot(ch)

    _build(dbt, "--full-refresh")
    assert _snapshot(ch) == refreshed

    # an hourly table built before it carried campaign_performance's measures gets them, and
    # a refresh rebuilds every campaign (no row keeps their zeros)
    ch.command(
        "alter table campaign_performance_hourly drop column total_clicks,"
        " drop column hard_bounced, drop column first_sent_at"
    )
    _build(dbt)
    _assert_totals_match_the_sends(ch)
    assert _snapshot(ch) == refreshed
