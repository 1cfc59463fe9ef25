"""Campaign analytics read from the dbt marts in ClickHouse (for the API and dashboards).

Every query filters by the account: a campaign of another account answers None, like a missing
one. Rates are None when their denominator is 0.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from clickhouse_connect.driver.client import Client

TOP_LINKS = 10

TOTALS_QUERY = """
select * except (account_id, campaign_id)
from campaign_performance
where account_id = {account:UUID} and campaign_id = {campaign:Int64}
"""
HOURLY_QUERY = """
select * except (account_id, campaign_id)
from campaign_performance_hourly
where account_id = {account:UUID} and campaign_id = {campaign:Int64}
order by hour_at
"""
PROVIDERS_QUERY = """
select
    mailbox_provider,
    count() as sends,
    countIf(is_delivered) as delivered,
    countIf(is_bounced) as bounced,
    countIf(is_complained) as complained,
    countIf(is_opened) as unique_opens,
    countIf(is_human_opened) as unique_human_opens,
    countIf(is_clicked) as unique_clicks
from fct_email_sends
where account_id = {account:UUID} and campaign_id = {campaign:Int64}
group by mailbox_provider
order by sends desc, mailbox_provider
"""
LINKS_QUERY = """
select url, count() as clicks, uniqExact(email_record_id) as unique_clicks
from fct_email_events
where account_id = {account:UUID} and campaign_id = {campaign:Int64}
    and event_type = 'click' and url is not null
group by url
order by unique_clicks desc, clicks desc, url
limit {limit:UInt32}
"""


def _utc(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        value = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        return value.isoformat()
    return value


def query_rows(ch: Client, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    """The rows of `sql` as dicts; a datetime becomes an ISO string (a naive one is UTC)."""
    result = ch.query(sql, parameters=params)
    return [
        {k: _utc(v) for k, v in zip(result.column_names, row, strict=True)}
        for row in result.result_rows
    ]


def campaign_analytics(
    ch: Client, account_id: uuid.UUID, campaign_id: int, top_links: int = TOP_LINKS
) -> dict[str, Any] | None:
    """Totals and rates, by hour, by mailbox provider and top links of one campaign.

    `refreshed_at` is when the marts were last built. None when the marts hold no send of this
    campaign in this account.
    """
    params: dict[str, Any] = {"account": str(account_id), "campaign": campaign_id}
    totals = query_rows(ch, TOTALS_QUERY, params)
    if not totals:
        return None
    summary = totals[0]
    refreshed_at = summary.pop("refreshed_at")
    return {
        "campaign_id": campaign_id,
        "totals": summary,
        "by_hour": query_rows(ch, HOURLY_QUERY, params),
        "by_mailbox_provider": query_rows(ch, PROVIDERS_QUERY, params),
        "top_links": query_rows(ch, LINKS_QUERY, {**params, "limit": top_links}),
        "refreshed_at": refreshed_at,
    }


_SUMMARY_FIELDS: tuple[tuple[str, str], ...] = (
    ("sends", "sends"),
    ("delivered", "delivered"),
    ("unique_opens", "opens"),
    ("unique_human_opens", "human opens"),
    ("unique_clicks", "clicks"),
    ("bounced", "bounced"),
    ("complained", "complaints"),
    ("unsubscribed", "unsubscribes"),
)
_SUMMARY_RATES: tuple[tuple[str, str], ...] = (
    ("delivery_rate", "delivery"),
    ("open_rate", "open"),
    ("human_open_rate", "human open"),
    ("click_rate", "click"),
    ("bounce_rate", "bounce"),
    ("complaint_rate", "complaint"),
    ("unsubscribe_rate", "unsubscribe"),
)


def _percent(value: Any) -> str:
    return "n/a" if value is None else f"{float(value) * 100:.1f}%"


def format_performance(row: dict[str, Any]) -> str:
    """One campaign_performance row as two printable lines: counts, then rates."""
    name = row.get("campaign_name") or f"campaign {row.get('campaign_id')}"
    counts = ", ".join(f"{label} {int(row.get(key) or 0)}" for key, label in _SUMMARY_FIELDS)
    rates = ", ".join(f"{label} {_percent(row.get(key))}" for key, label in _SUMMARY_RATES)
    refreshed = row.get("refreshed_at")
    when = f" (marts refreshed {refreshed})" if refreshed else ""
    return f"{name}: {counts}\n  rates: {rates}{when}"


def performance_summary(ch: Client, account_id: uuid.UUID, campaign_id: int) -> str | None:
    """The printable performance row of one campaign (the demo prints it); None if no send."""
    rows = query_rows(
        ch,
        "select campaign_id, campaign_name, * except (account_id, campaign_id, campaign_name)"
        " from campaign_performance"
        " where account_id = {account:UUID} and campaign_id = {campaign:Int64}",
        {"account": str(account_id), "campaign": campaign_id},
    )
    return format_performance(rows[0]) if rows else None
