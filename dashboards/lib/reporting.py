"""The SQL behind the reporting pages, over the dbt marts only (never the raw `events`).

Plain functions of a clickhouse-connect client (the pages wrap them in `st.cache_data`, the
benchmark calls them directly). Every query filters by the account; windows are half-open UTC
instants [start, end); days and hours are bucketed in the zone `tz`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
from clickhouse_connect.driver.client import Client

MEASURES = (
    "sends",
    "delivered",
    "bounced",
    "unique_opens",
    "unique_human_opens",
    "unique_clicks",
    "complained",
    "unsubscribed",
)
_SUMS = ", ".join(f"sum({m}) as {m}" for m in MEASURES)
_WINDOW = "hour_at >= {start:DateTime64(3, 'UTC')} and hour_at < {end:DateTime64(3, 'UTC')}"


def frame(ch: Client, sql: str, params: dict[str, Any]) -> pd.DataFrame:
    result = ch.query(sql, parameters=params)
    return pd.DataFrame(result.result_rows, columns=list(result.column_names))


def _params(account_id: str, start: dt.datetime, end: dt.datetime, **more: Any) -> dict[str, Any]:
    return {"account": account_id, "start": start, "end": end, **more}


def overview_totals(
    ch: Client, account_id: str, start: dt.datetime, end: dt.datetime
) -> dict[str, int]:
    """Outcome counts in the window (each counted in the hour it happened)."""
    sql = f"""
        select {_SUMS} from campaign_performance_hourly
        where account_id = {{account:UUID}} and {_WINDOW}
    """
    df = frame(ch, sql, _params(account_id, start, end))
    row = df.iloc[0].to_dict() if len(df) else {}
    return {m: int(row.get(m) or 0) for m in MEASURES}


def overview_daily(
    ch: Client, account_id: str, start: dt.datetime, end: dt.datetime, tz: str
) -> pd.DataFrame:
    """Outcome counts per day (in `tz`)."""
    sql = f"""
        select toDate(toTimeZone(hour_at, {{tz:String}})) as day, {_SUMS}
        from campaign_performance_hourly
        where account_id = {{account:UUID}} and {_WINDOW}
        group by day order by day
    """
    return frame(ch, sql, _params(account_id, start, end, tz=tz))


def top_campaigns(
    ch: Client, account_id: str, start: dt.datetime, end: dt.datetime, limit: int = 10
) -> pd.DataFrame:
    """The campaigns with the most sends in the window, with their lifetime rates."""
    sql = """
        select campaign_id, campaign_name, sends, delivery_rate, open_rate, click_rate,
            bounce_rate, complaint_rate, unsubscribe_rate, first_sent_at
        from campaign_performance
        where account_id = {account:UUID}
            and campaign_id in (
                select campaign_id from campaign_performance_hourly
                where account_id = {account:UUID}
                    and hour_at >= {start:DateTime64(3, 'UTC')}
                    and hour_at < {end:DateTime64(3, 'UTC')} and sends > 0
            )
        order by sends desc, campaign_id
        limit {limit:UInt32}
    """
    return frame(ch, sql, _params(account_id, start, end, limit=limit))


def campaigns_with_sends(ch: Client, account_id: str) -> pd.DataFrame:
    sql = """
        select campaign_id, campaign_name, sends, first_sent_at from campaign_performance
        where account_id = {account:UUID}
        order by first_sent_at desc, campaign_id desc
        limit 500
    """
    return frame(ch, sql, {"account": account_id})


def campaign_hourly(ch: Client, account_id: str, campaign_id: int, tz: str) -> pd.DataFrame:
    """The campaign's outcomes per hour, the hour shown in `tz`."""
    sql = f"""
        select toTimeZone(hour_at, {{tz:String}}) as hour, {_SUMS}
        from campaign_performance_hourly
        where account_id = {{account:UUID}} and campaign_id = {{campaign:Int64}}
        group by hour order by hour
    """
    df = frame(ch, sql, {"account": account_id, "campaign": campaign_id, "tz": tz})
    if len(df):
        df["hour"] = pd.to_datetime(df["hour"], utc=True).dt.tz_convert(tz)
    return df


def campaign_bounces(ch: Client, account_id: str, campaign_id: int) -> pd.DataFrame:
    """Bounced sends by bounce type (hard, soft)."""
    sql = """
        select coalesce(bounce_type, 'undetermined') as bounce_type, count() as sends
        from fct_email_sends
        where account_id = {account:UUID} and campaign_id = {campaign:Int64} and is_bounced
        group by bounce_type order by sends desc, bounce_type
    """
    return frame(ch, sql, {"account": account_id, "campaign": campaign_id})


def deliverability(
    ch: Client, account_id: str, start: dt.date, end: dt.date, by: str
) -> pd.DataFrame:
    """Bounce and complaint rates per mailbox provider or sending domain, days [start, end)."""
    if by not in ("mailbox_provider", "sending_domain"):
        raise ValueError(f"by must be mailbox_provider or sending_domain, got {by!r}")
    sql = f"""
        select {by}, sum(sends) as sends, sum(delivered) as delivered, sum(bounced) as bounced,
            sum(hard_bounced) as hard_bounced, sum(complained) as complained,
            if(sends = 0, null, bounced / sends) as bounce_rate,
            if(delivered = 0, null, complained / delivered) as complaint_rate
        from deliverability_by_mailbox_provider
        where account_id = {{account:UUID}}
            and sent_date >= {{start:Date}} and sent_date < {{end:Date}}
        group by {by} order by sends desc, {by}
    """
    return frame(ch, sql, {"account": account_id, "start": start, "end": end})


def deliverability_daily(ch: Client, account_id: str, start: dt.date, end: dt.date) -> pd.DataFrame:
    """Complaint and bounce rate per day (UTC days) and mailbox provider."""
    sql = """
        select sent_date, mailbox_provider, sum(sends) as sends, sum(delivered) as delivered,
            sum(complained) as complained, sum(bounced) as bounced,
            if(delivered = 0, null, complained / delivered) as complaint_rate,
            if(sends = 0, null, bounced / sends) as bounce_rate
        from deliverability_by_mailbox_provider
        where account_id = {account:UUID}
            and sent_date >= {start:Date} and sent_date < {end:Date}
        group by sent_date, mailbox_provider order by sent_date, mailbox_provider
    """
    return frame(ch, sql, {"account": account_id, "start": start, "end": end})


def deferrals_daily(
    ch: Client, account_id: str, start: dt.datetime, end: dt.datetime, tz: str
) -> pd.DataFrame:
    """Deferral events per day (in `tz`) and recipient domain."""
    sql = """
        select toDate(toTimeZone(event_at, {tz:String})) as day,
            coalesce(recipient_domain, 'unknown') as recipient_domain, count() as deferrals
        from fct_email_events
        where event_date >= toDate({start:DateTime64(3, 'UTC')})
            and event_date <= toDate({end:DateTime64(3, 'UTC')})
            and account_id = {account:UUID} and event_type = 'deferral'
            and event_at >= {start:DateTime64(3, 'UTC')} and event_at < {end:DateTime64(3, 'UTC')}
        group by day, recipient_domain order by day, deferrals desc
    """
    return frame(ch, sql, _params(account_id, start, end, tz=tz))


def throughput_hourly(
    ch: Client, account_id: str, start: dt.datetime, end: dt.datetime, tz: str
) -> pd.DataFrame:
    """Events landed per hour (by ingestion time, in `tz`) and type."""
    sql = """
        select toStartOfHour(toTimeZone(ingested_at, {tz:String})) as hour, event_type,
            count() as events
        from fct_email_events
        where event_date >= toDate({start:DateTime64(3, 'UTC')}) - 1
            and account_id = {account:UUID}
            and ingested_at >= {start:DateTime64(3, 'UTC')}
            and ingested_at < {end:DateTime64(3, 'UTC')}
        group by hour, event_type order by hour, event_type
    """
    df = frame(ch, sql, _params(account_id, start, end, tz=tz))
    if len(df):
        df["hour"] = pd.to_datetime(df["hour"], utc=True).dt.tz_convert(tz)
    return df


def contact_timeline(
    ch: Client, account_id: str, contact_id: int, limit: int = 200
) -> pd.DataFrame:
    sql = """
        select event_at, event_type, campaign_id, bounce_type, url, is_machine_open
        from fct_email_events
        where account_id = {account:UUID} and contact_id = {contact:Int64}
        order by event_at desc limit {limit:UInt32}
    """
    return frame(ch, sql, {"account": account_id, "contact": contact_id, "limit": limit})


def contact_engagement(ch: Client, account_id: str, contact_id: int) -> dict[str, Any] | None:
    sql = """
        select recency_bucket, engagement_score, sends, delivered, human_opened_sends,
            clicked_sends, last_engaged_at
        from contact_engagement
        where account_id = {account:UUID} and contact_id = {contact:Int64}
    """
    df = frame(ch, sql, {"account": account_id, "contact": contact_id})
    return df.iloc[0].to_dict() if len(df) else None


def tables(ch: Client) -> set[str]:
    """The tables and views of the client's database (to tell 'not built yet' apart)."""
    return {str(r[0]) for r in ch.query("show tables").result_rows}


# Segment membership (issue 11): `segment_membership (account_id, segment_id, contact_id,
# computed_at)` and `segment_membership_history (..., valid_from, valid_to)`.


def segment_sizes_now(ch: Client, account_id: str) -> pd.DataFrame:
    sql = """
        select segment_id, count() as members, max(computed_at) as computed_at
        from segment_membership
        where account_id = {account:UUID}
        group by segment_id order by segment_id
    """
    return frame(ch, sql, {"account": account_id})


def segment_sizes_daily(
    ch: Client, account_id: str, segment_id: int, start: dt.datetime, days: int, tz: str
) -> pd.DataFrame:
    """Members at the end of each day (in `tz`) of the `days` days from `start`."""
    sql = """
        select day, count() as members
        from segment_membership_history
        array join arrayMap(
            i -> toDate(toTimeZone({start:DateTime64(3, 'UTC')}, {tz:String})) + i,
            range({days:UInt32})
        ) as day
        where account_id = {account:UUID} and segment_id = {segment:Int64}
            and toDate(toTimeZone(valid_from, {tz:String})) <= day
            and (valid_to is null or toDate(toTimeZone(valid_to, {tz:String})) > day)
        group by day order by day
    """
    params = {"account": account_id, "segment": segment_id, "start": start, "days": days, "tz": tz}
    return frame(ch, sql, params)


def segment_sample(ch: Client, account_id: str, segment_id: int, limit: int = 20) -> pd.DataFrame:
    sql = """
        select m.contact_id as contact_id, c.email_domain as email_domain,
            c.mailbox_provider as mailbox_provider, c.contact_status as contact_status,
            m.computed_at as computed_at
        from segment_membership as m
        left join dim_contacts as c
            on c.account_id = m.account_id and c.contact_id = m.contact_id
        where m.account_id = {account:UUID} and m.segment_id = {segment:Int64}
        order by m.contact_id
        limit {limit:UInt32}
    """
    return frame(ch, sql, {"account": account_id, "segment": segment_id, "limit": limit})


def contact_segments(ch: Client, account_id: str, contact_id: int) -> pd.DataFrame:
    sql = """
        select segment_id, computed_at from segment_membership
        where account_id = {account:UUID} and contact_id = {contact:Int64}
        order by segment_id
    """
    return frame(ch, sql, {"account": account_id, "contact": contact_id})
