"""The queries behind each dashboard page, on marts holding 10M events (size configurable).

Starts a private local ClickHouse server, fills the marts the pages read (`fct_email_events`
with `--events` rows, default 10M; `fct_email_sends` with a quarter as many sends; the
aggregate marts built from those by the same GROUP BYs as the dbt models; segment membership)
with synthetic data of one account (the worst case: every row is the queried account's), then
runs each page's queries (`dashboards.lib.reporting` and `murmur.domain.analytics`, exactly what
the pages run, without the Streamlit cache) `--reps` times, the pages interleaved.

Target: per page, p95 of the time for all its queries <= 300 ms. The `select 1` round trip is
printed as the same-run baseline. Exits 1 on a miss. Run:
``.venv/bin/python bench/bench_dashboards.py [--events N] [--reps N]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import clickhouse_connect
from clickhouse_connect.driver.client import Client

from bench.bench_clickhouse import start_server
from bench.common import Target, report
from dashboards.lib import reporting
from murmur.domain.analytics import campaign_analytics

ACCOUNT = uuid.UUID("00000000-0000-4000-8000-000000000001")
START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
DAYS = 90
CAMPAIGNS = 300
SEGMENTS = 20
TZ = "Europe/Paris"
TARGET_MS = 300.0
PROVIDERS = "['Gmail', 'Yahoo', 'Outlook/Hotmail', 'Apple iCloud', 'Other']"
DOMAINS = "['gmail.com', 'yahoo.com', 'hotmail.com', 'icloud.com', 'corp.example']"
TYPES = (
    "['delivery', 'delivery', 'delivery', 'open', 'open', 'click', 'send', 'send', 'send', "
    "'bounce', 'deferral', 'complaint', 'unsubscribe']"
)


def _build(ch: Client, events: int) -> None:
    sends = max(events // 4, 1)
    contacts = max(sends // 5, 1)
    acct = f"toUUID('{ACCOUNT}')"
    start = f"toDateTime64('{START:%Y-%m-%d %H:%M:%S}', 3, 'UTC')"
    span = DAYS * 86400
    ch.command(f"""
        create table fct_email_sends engine = MergeTree
        order by (account_id, campaign_id, email_record_id) as
        with cityHash64(number, 3) % 1000 as r, cityHash64(number, 2) % 5 + 1 as p
        select
            toInt64(number + 1) as email_record_id, {acct} as account_id,
            toInt64(number % {CAMPAIGNS} + 1) as campaign_id,
            toInt64(cityHash64(number, 1) % {contacts} + 1) as contact_id,
            {DOMAINS}[p] as recipient_domain, {PROVIDERS}[p] as mailbox_provider,
            ['acme.io', 'news.acme.io'][number % 2 + 1] as sending_domain,
            if(r >= 970, if(r >= 985, 'hard', 'soft'), null) as bounce_type,
            r < 970 as is_delivered, r >= 970 as is_bounced, r >= 985 as is_hard_bounced,
            r < 400 as is_opened, r < 300 as is_human_opened, r < 80 as is_clicked,
            r >= 960 and r < 962 as is_complained, r >= 950 and r < 955 as is_unsubscribed,
            toUInt64(is_opened) * 2 as open_count, toUInt64(is_clicked) as click_count,
            addSeconds({start}, intDiv((number % {CAMPAIGNS}) * {span}, {CAMPAIGNS})
                + cityHash64(number, 4) % 7200) as sent_at,
            addMinutes(sent_at, 1) as delivered_at,
            if(is_bounced, addMinutes(sent_at, 2), null) as bounced_at,
            if(is_opened, addMinutes(sent_at, 60), null) as first_opened_at,
            if(is_human_opened, addMinutes(sent_at, 61), null) as first_human_opened_at,
            if(is_clicked, addMinutes(sent_at, 90), null) as first_clicked_at,
            if(is_complained, addMinutes(sent_at, 120), null) as complained_at,
            if(is_unsubscribed, addMinutes(sent_at, 121), null) as unsubscribed_at,
            if(is_human_opened, first_human_opened_at, null) as last_human_opened_at
        from numbers({sends})
    """)
    ch.command(f"""
        create table fct_email_events engine = MergeTree
        partition by toYYYYMM(event_date) order by (event_type, event_date, event_id) as
        with number % {sends} as s
        select
            toString(cityHash64(number)) as event_id, toInt64(s + 1) as email_record_id,
            {acct} as account_id, toInt64(s % {CAMPAIGNS} + 1) as campaign_id,
            toInt64(cityHash64(s, 1) % {contacts} + 1) as contact_id,
            {TYPES}[cityHash64(number, 5) % 13 + 1] as event_type,
            if(event_type = 'bounce', 'soft', null) as bounce_type,
            'sendgrid' as provider, 'smtp' as esp,
            {DOMAINS}[cityHash64(s, 2) % 5 + 1] as recipient_domain,
            if(event_type = 'click', concat('https://acme.io/p/', toString(number % 40)), null)
                as url,
            event_type = 'open' and number % 3 = 0 as is_machine_open, true as is_matched,
            addSeconds({start}, intDiv((s % {CAMPAIGNS}) * {span}, {CAMPAIGNS})
                + cityHash64(number, 6) % 86400) as event_at,
            toDate(event_at) as event_date, addSeconds(event_at, 2) as ingested_at
        from numbers({events})
    """)
    sums = ", ".join(
        f"countIf({flag}) as {name}"
        for name, flag in (
            ("delivered", "is_delivered"), ("bounced", "is_bounced"),
            ("unique_opens", "is_opened"), ("unique_human_opens", "is_human_opened"),
            ("unique_clicks", "is_clicked"), ("complained", "is_complained"),
            ("unsubscribed", "is_unsubscribed"),
        )
    )  # fmt: skip
    ch.command(f"""
        create table campaign_performance_hourly engine = MergeTree
        order by (account_id, campaign_id, hour_at) as
        select account_id, campaign_id, toStartOfHour(sent_at) as hour_at, count() as sends,
            {sums}
        from fct_email_sends group by account_id, campaign_id, hour_at
    """)
    ch.command(f"""
        create table campaign_performance engine = MergeTree
        order by (account_id, campaign_id) as
        select account_id, campaign_id, concat('Campaign ', toString(campaign_id))
                as campaign_name, any(sending_domain) as sending_domain, count() as sends,
            {sums}, countIf(is_hard_bounced) as hard_bounced,
            countIf(is_bounced and not is_hard_bounced) as soft_bounced,
            countIf(is_opened and not is_human_opened) as machine_only_opens,
            countIf(is_clicked and is_human_opened) as unique_human_open_clicks,
            sum(open_count) as total_opens, sum(click_count) as total_clicks,
            delivered / sends as delivery_rate, bounced / sends as bounce_rate,
            hard_bounced / sends as hard_bounce_rate, unique_opens / delivered as open_rate,
            unique_human_opens / delivered as human_open_rate,
            unique_clicks / delivered as click_rate,
            unique_clicks / unique_opens as click_to_open_rate,
            unique_human_open_clicks / unique_human_opens as human_click_to_open_rate,
            complained / delivered as complaint_rate, unsubscribed / delivered as unsubscribe_rate,
            min(sent_at) as first_sent_at, max(sent_at) as last_sent_at,
            now64(3, 'UTC') as refreshed_at
        from fct_email_sends group by account_id, campaign_id
    """)
    ch.command(f"""
        create table deliverability_by_mailbox_provider engine = MergeTree
        order by (account_id, sent_date, sending_domain, mailbox_provider) as
        select account_id, toDate(sent_at) as sent_date, sending_domain, mailbox_provider,
            count() as sends, {sums}, countIf(is_hard_bounced) as hard_bounced
        from fct_email_sends
        group by account_id, sent_date, sending_domain, mailbox_provider
    """)
    ch.command("""
        create table contact_engagement engine = MergeTree order by (account_id, contact_id) as
        select contact_id, account_id, 'engaged_30d' as recency_bucket,
            toUInt8(least(100, countIf(is_human_opened) * 10)) as engagement_score,
            count() as sends, countIf(is_delivered) as delivered,
            countIf(is_human_opened) as human_opened_sends, countIf(is_clicked) as clicked_sends,
            maxOrNull(last_human_opened_at) as last_engaged_at
        from fct_email_sends group by account_id, contact_id
    """)
    ch.command(f"""
        create table dim_contacts engine = MergeTree order by (account_id, contact_id) as
        select toInt64(number + 1) as contact_id, {acct} as account_id,
            {DOMAINS}[number % 5 + 1] as email_domain, {PROVIDERS}[number % 5 + 1]
                as mailbox_provider, 'subscribed' as contact_status
        from numbers({contacts})
    """)
    ch.command(f"""
        create table segment_membership engine = MergeTree
        order by (account_id, segment_id, contact_id) as
        select {acct} as account_id, toInt64(number % {SEGMENTS} + 1) as segment_id,
            toInt64(intDiv(number, {SEGMENTS}) + 1) as contact_id,
            addDays({start}, {DAYS}) as computed_at
        from numbers({contacts * 2})
    """)
    ch.command(f"""
        create table segment_membership_history engine = MergeTree
        order by (account_id, segment_id, contact_id, valid_from) as
        select account_id, segment_id, contact_id,
            addDays({start}, toInt32(cityHash64(contact_id) % {DAYS})) as valid_from,
            if(contact_id % 7 = 0, addDays(valid_from, 10), null) as valid_to
        from segment_membership
    """)


def _pages(ch: Client) -> dict[str, Callable[[], Any]]:
    """Each page's queries, with the arguments a user's default view gives them."""
    a = str(ACCOUNT)
    end = START + dt.timedelta(days=DAYS)
    start = end - dt.timedelta(days=30)
    prev = start - dt.timedelta(days=30)
    campaign = CAMPAIGNS  # the latest campaign, the report's default
    q = reporting

    def overview() -> None:
        q.overview_totals(ch, a, start, end)
        q.overview_totals(ch, a, prev, start)
        q.overview_daily(ch, a, start, end, TZ)
        q.top_campaigns(ch, a, start, end)

    def campaign_report() -> None:
        q.campaigns_with_sends(ch, a)
        campaign_analytics(ch, ACCOUNT, campaign)
        q.campaign_hourly(ch, a, campaign, TZ)
        q.campaign_bounces(ch, a, campaign)

    def deliverability() -> None:
        q.deliverability(ch, a, start.date(), end.date(), "mailbox_provider")
        q.deliverability(ch, a, start.date(), end.date(), "sending_domain")
        q.deferrals_daily(ch, a, start, end, TZ)

    def segments() -> None:
        q.segment_sizes_now(ch, a)
        q.segment_sizes_daily(ch, a, 1, start, 30, TZ)
        q.segment_sample(ch, a, 1)

    def contact_360() -> None:
        q.contact_engagement(ch, a, 42)
        q.contact_segments(ch, a, 42)
        q.contact_timeline(ch, a, 42)

    def pipeline_health() -> None:
        q.throughput_hourly(ch, a, end - dt.timedelta(days=1), end, TZ)

    return {
        "overview": overview,
        "campaign_report": campaign_report,
        "deliverability": deliverability,
        "segments": segments,
        "contact_360": contact_360,
        "pipeline_health": pipeline_health,
    }


def p95(values: list[float]) -> float:
    return (
        statistics.quantiles(values, n=20, method="inclusive")[18] if len(values) > 1 else values[0]
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000, help="events (default 10M)")
    parser.add_argument("--reps", type=int, default=20, help="measured runs per page")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-dash-") as tmp:
        proc, port = start_server(Path(tmp) / "ch")
        try:
            admin = clickhouse_connect.get_client(host="127.0.0.1", port=port, compress=False)
            admin.command("create database if not exists bench_dash")
            ch = clickhouse_connect.get_client(
                host="127.0.0.1", port=port, database="bench_dash", compress=False
            )
            t0 = time.perf_counter()
            _build(ch, args.events)
            count = ch.command("select count() from fct_email_events")
            print(f"built the marts: {count:,} events in {time.perf_counter() - t0:.1f} s")
            pages = _pages(ch)
            times: dict[str, list[float]] = {name: [] for name in pages}
            base: list[float] = []
            for fn in pages.values():
                fn()  # warm-up
            for rep in range(args.reps):
                order = list(pages.items())
                for name, fn in order if rep % 2 == 0 else reversed(order):
                    t = time.perf_counter()
                    fn()
                    times[name].append(1000 * (time.perf_counter() - t))
                t = time.perf_counter()
                ch.command("select 1")
                base.append(1000 * (time.perf_counter() - t))
            print(f"baseline `select 1` round trip: median {statistics.median(base):.1f} ms")
            for name, values in times.items():
                print(f"  {name}: median {statistics.median(values):.0f} ms, "
                      f"p95 {p95(values):.0f} ms over {len(values)} runs")  # fmt: skip
            targets = [
                Target(f"{name} p95", p95(values), TARGET_MS, unit=" ms")
                for name, values in times.items()
            ]
            return report(f"dashboard page queries on {count:,} events", targets)
        finally:
            proc.terminate()
            proc.wait(timeout=30)


if __name__ == "__main__":
    sys.exit(main())
