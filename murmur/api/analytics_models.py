"""Response models of `GET /campaigns/{id}/analytics` (the columns of the dbt marts).

Counts are sends (a send counts once per outcome); rates are fractions in [0, 1], null when
their denominator is 0. Delivery and bounce rates are over sends; open, click, complaint and
unsubscribe rates over delivered sends; click-to-open over opened sends. "human" excludes
machine opens (privacy proxies that fetch every pixel).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel

_COUNTS = (
    "sends delivered bounced hard_bounced soft_bounced unique_opens unique_human_opens "
    "machine_only_opens unique_clicks unique_human_open_clicks complained unsubscribed "
    "total_opens total_clicks"
).split()


class AnalyticsTotals(BaseModel):
    campaign_name: str | None
    sending_domain: str | None
    sends: int
    delivered: int
    bounced: int
    hard_bounced: int
    soft_bounced: int
    unique_opens: int
    unique_human_opens: int
    machine_only_opens: int
    unique_clicks: int
    unique_human_open_clicks: int
    complained: int
    unsubscribed: int
    total_opens: int
    total_clicks: int
    delivery_rate: float | None
    bounce_rate: float | None
    hard_bounce_rate: float | None
    open_rate: float | None
    human_open_rate: float | None
    click_rate: float | None
    click_to_open_rate: float | None
    human_click_to_open_rate: float | None
    complaint_rate: float | None
    unsubscribe_rate: float | None
    first_sent_at: datetime | None
    last_sent_at: datetime | None


class AnalyticsHour(BaseModel):
    """One hour: each send counted in the hour its outcome first happened."""

    hour_at: datetime
    sends: int
    delivered: int
    bounced: int
    unique_opens: int
    unique_human_opens: int
    unique_clicks: int
    complained: int
    unsubscribed: int


class AnalyticsProvider(BaseModel):
    """Sends by the recipient's mailbox provider (gmail, yahoo, outlook, icloud, other)."""

    mailbox_provider: str
    sends: int
    delivered: int
    bounced: int
    complained: int
    unique_opens: int
    unique_human_opens: int
    unique_clicks: int


class AnalyticsLink(BaseModel):
    url: str
    clicks: int
    unique_clicks: int


class CampaignAnalytics(BaseModel):
    campaign_id: int
    totals: AnalyticsTotals
    by_hour: list[AnalyticsHour]
    by_mailbox_provider: list[AnalyticsProvider]
    top_links: list[AnalyticsLink]
    refreshed_at: datetime | None


def empty_analytics(campaign_id: int) -> dict[str, Any]:
    """The answer for a campaign the marts hold nothing for: zeros, null rates, no refresh."""
    totals: dict[str, Any] = {name: None for name in AnalyticsTotals.model_fields}
    totals.update(dict.fromkeys(_COUNTS, 0))
    return {
        "campaign_id": campaign_id,
        "totals": totals,
        "by_hour": [],
        "by_mailbox_provider": [],
        "top_links": [],
        "refreshed_at": None,
    }
