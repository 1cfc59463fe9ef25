"""The demo's closing report: one campaign from the marts, in numbers and per mailbox provider."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa

from murmur.settings import Settings

TOTALS = (
    ("sends", "sent"),
    ("delivered", "delivered"),
    ("unique_opens", "opened"),
    ("unique_human_opens", "opened by a person"),
    ("machine_only_opens", "machine opens only"),
    ("unique_clicks", "clicked"),
    ("bounced", "bounced"),
    ("hard_bounced", "  hard"),
    ("soft_bounced", "  soft"),
    ("complained", "complained"),
    ("unsubscribed", "unsubscribed"),
)
PROVIDER_COLUMNS = (
    "sends",
    "delivered",
    "unique_opens",
    "unique_human_opens",
    "unique_clicks",
    "bounced",
    "complained",
)


def campaign_report(settings: Settings, account_id: uuid.UUID, campaign_id: int) -> dict[str, Any]:
    """Totals and per mailbox provider, read as `murmur.domain.analytics` reads them.

    Plus the suppression counts.
    Not `campaign_analytics` itself: its top links come from the daily `fct_email_events`,
    whose partition for today does not exist until the day is over.
    """
    from murmur.clickhouse import get_client
    from murmur.db.engine import make_engine
    from murmur.db.tables import campaigns, suppressions
    from murmur.domain.analytics import PROVIDERS_QUERY as _PROVIDERS
    from murmur.domain.analytics import TOTALS_QUERY as _TOTALS
    from murmur.domain.analytics import query_rows as _rows

    params: dict[str, Any] = {"account": str(account_id), "campaign": campaign_id}
    client = get_client(settings.resolved())
    try:
        totals = _rows(client, _TOTALS, params)
        providers = _rows(client, _PROVIDERS, params)
    finally:
        client.close()
    if not totals:
        raise RuntimeError(f"the marts hold no send of campaign {campaign_id}")
    found: dict[str, Any] = {
        "campaign_id": campaign_id,
        "totals": totals[0],
        "by_mailbox_provider": providers,
    }
    engine = make_engine(settings.require("postgres_url"), pool_size=1, max_overflow=1)
    try:
        with engine.connect() as conn:
            snapshot_at = conn.execute(
                sa.select(campaigns.c.snapshot_at).where(campaigns.c.campaign_id == campaign_id)
            ).scalar()
            mine = suppressions.c.account_id == account_id
            total = conn.execute(sa.select(sa.func.count()).where(mine)).scalar_one()
            new = 0
            if snapshot_at is not None:
                later = suppressions.c.created_at >= snapshot_at
                new = conn.execute(sa.select(sa.func.count()).where(mine, later)).scalar_one()
    finally:
        engine.dispose()
    found["suppressed_total"] = int(total)
    found["suppressed_new"] = int(new)
    return found


def _pct(part: Any, whole: Any) -> str:
    return f"{100 * part / whole:5.1f}%" if whole else "     -"


def format_report(report: dict[str, Any]) -> list[str]:
    totals = report["totals"]
    sends = totals.get("sends") or 0
    lines = [f"  campaign {report['campaign_id']}: {totals.get('campaign_name') or ''}"]
    for key, label in TOTALS:
        value = totals.get(key) or 0
        lines.append(f"    {label:<20} {value:>8,}  {_pct(value, sends)}")
    lines.append(
        f"    {'suppressed':<20} {report['suppressed_total']:>8,}  on the list now, "
        f"{report['suppressed_new']:,} added by this campaign's bounces, complaints and "
        "unsubscribes"
    )
    lines.append("  per mailbox provider:")
    head = "".join(f"{c.replace('unique_', '').replace('_', ' '):>13}" for c in PROVIDER_COLUMNS)
    lines.append(f"    {'provider':<17}{head}")
    for row in report["by_mailbox_provider"]:
        cells = "".join(f"{row.get(c) or 0:>13,}" for c in PROVIDER_COLUMNS)
        lines.append(f"    {row['mailbox_provider']:<17}{cells}")
    return lines
