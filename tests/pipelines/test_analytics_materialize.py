"""The analytics assets end to end on the local stack: a scripted history → exact mart numbers.

Replication, the dbt build (tests included) and the daily partition all run in-process through
`dg.materialize`; then a GDPR erasure is gone from every ClickHouse table after the next run.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from clickhouse_connect.driver.client import Client

from murmur.analytics.erasure import ErasedKeys, leftovers
from murmur.domain.analytics import campaign_analytics
from murmur.domain.gdpr import erase_contact
from murmur.domain.suppression import email_sha256
from murmur.settings import Settings
from pipelines.defs.replication.assets import ERASURE_CHECK
from tests.murmur.conftest import MakeAccount
from tests.pipelines.history import T0, H, M, scripted_history
from tests.pipelines.refresh import refresh, refresh_day

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _utc(value: Any) -> Any:
    # the local server returns some DateTime columns without their zone (README: chserver limits)
    if isinstance(value, dt.datetime) and value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value


def _rows(ch: Client, sql: str) -> list[dict[str, Any]]:
    result = ch.query(sql)
    return [
        {name: _utc(value) for name, value in zip(result.column_names, row, strict=True)}
        for row in result.result_rows
    ]


def _history(
    engine: sa.Engine, ch: Client, account_id: uuid.UUID
) -> tuple[int, dict[str, int], dict[str, int]]:
    """The scripted history (see the expectations in the test), one open delivered twice."""
    history = scripted_history(engine, ch, account_id, duplicate_open=True)
    # an event that matched no send (ESP message id unknown): kept, never a send
    ch.insert(
        "events",
        [["unmatched-1", "delivery", T0 + 4 * H, "sendgrid", False]],
        column_names=["event_id", "type", "timestamp", "provider", "machine_open"],
    )
    return history.campaign, history.contact, history.record


def test_a_scripted_history_yields_exact_marts_and_erasure_leaves_nothing(
    analytics_settings: Settings, ch: Client, db_engine: sa.Engine, make_account: MakeAccount
) -> None:
    account_id, _ = make_account()
    campaign, contact, record = _history(db_engine, ch, account_id)

    result = refresh(analytics_settings)
    checks = result.get_asset_check_evaluations()
    assert [(c.check_name, c.passed) for c in checks if c.check_name == ERASURE_CHECK] == [
        (ERASURE_CHECK, True)
    ]
    assert not [c for c in checks if not c.passed], [c.check_name for c in checks if not c.passed]
    # the dbt tests' results come back as asset checks from the in-process build
    assert {"unique_fct_email_sends_email_record_id", "unique_dim_contacts_contact_id"} <= {
        c.check_name for c in checks
    }
    refresh_day(analytics_settings, T0.date())

    [perf] = _rows(ch, f"select * from campaign_performance where campaign_id = {campaign}")
    assert perf["campaign_name"] == "November news" and perf["sending_domain"] == "acme.io"
    assert {k: perf[k] for k in (
        "sends", "delivered", "bounced", "hard_bounced", "soft_bounced", "unique_opens",
        "unique_human_opens", "machine_only_opens", "unique_clicks", "complained", "unsubscribed",
        "total_opens", "total_clicks",
    )} == {
        "sends": 6, "delivered": 4, "bounced": 1, "hard_bounced": 1, "soft_bounced": 0,
        "unique_opens": 3, "unique_human_opens": 2, "machine_only_opens": 1, "unique_clicks": 1,
        "complained": 1, "unsubscribed": 1, "total_opens": 4, "total_clicks": 1,
    }  # fmt: skip
    expected_rates = {
        "delivery_rate": 4 / 6,
        "bounce_rate": 1 / 6,
        "open_rate": 3 / 4,
        "human_open_rate": 2 / 4,
        "click_rate": 1 / 4,
        "click_to_open_rate": 1 / 3,
        "complaint_rate": 1 / 4,
        "unsubscribe_rate": 1 / 4,
    }
    for name, value in expected_rates.items():
        assert perf[name] == pytest.approx(value), name

    sends = _rows(ch, f"select * from fct_email_sends where campaign_id = {campaign}")
    status = {s["contact_id"]: s["status"] for s in sends}
    assert status == {
        contact["alice"]: "clicked",
        contact["bob"]: "opened",
        contact["carol"]: "bounced",
        contact["dave"]: "delivered",
        contact["erin"]: "opened",
        contact["frank"]: "sent",
    }
    alice = next(s for s in sends if s["contact_id"] == contact["alice"])
    assert alice["first_opened_at"] == T0 + H + 5 * M
    assert alice["first_clicked_at"] == T0 + 2 * H
    carol = next(s for s in sends if s["contact_id"] == contact["carol"])
    assert (carol["bounce_type"], carol["bounced_at"]) == ("hard", T0 + 20 * M)

    hourly = _rows(
        ch,
        "select hour_at, sends, delivered, bounced, unique_opens, unique_human_opens,"
        " unique_clicks, complained, unsubscribed from campaign_performance_hourly"
        f" where campaign_id = {campaign} order by hour_at",
    )
    assert [tuple(h.values()) for h in hourly] == [
        (T0, 6, 4, 1, 0, 0, 0, 0, 0),
        (T0 + H, 0, 0, 0, 3, 2, 0, 0, 1),
        (T0 + 2 * H, 0, 0, 0, 0, 0, 1, 0, 0),
        (T0 + 3 * H, 0, 0, 0, 0, 0, 0, 1, 0),
    ]

    by_provider = {
        r["mailbox_provider"]: (r["sends"], r["delivered"], r["bounced"], r["complained"],
                                r["unique_opens"], r["unique_human_opens"])
        for r in _rows(
            ch,
            "select * from deliverability_by_mailbox_provider"
            f" where account_id = '{account_id}' and sending_domain = 'acme.io'"
            f" and sent_date = '{T0.date().isoformat()}'",
        )
    }  # fmt: skip
    assert by_provider == {
        "Gmail": (2, 2, 0, 0, 2, 1),
        "Yahoo": (1, 0, 1, 0, 0, 0),
        "Outlook/Hotmail": (1, 1, 0, 1, 0, 0),
        "Apple iCloud": (1, 1, 0, 0, 1, 1),
        "Other": (1, 0, 0, 0, 0, 0),
    }

    engagement = {
        r["contact_id"]: (r["recency_bucket"], r["engagement_score"])
        for r in _rows(ch, f"select * from contact_engagement where account_id = '{account_id}'")
    }
    assert engagement == {
        contact["alice"]: ("engaged_7d", 100),
        contact["bob"]: ("never", 0),  # a machine open is no engagement
        contact["carol"]: ("never", 0),
        contact["dave"]: ("never", 0),
        contact["erin"]: ("engaged_7d", 100),
        contact["frank"]: ("never", 0),
    }

    day = T0.date().isoformat()
    events = _rows(
        ch,
        f"select event_id, is_matched, contact_id from fct_email_events where event_date = '{day}'",
    )
    assert len(events) == 15  # 14 distinct events of the sends (one sent twice) + 1 unmatched
    assert len({e["event_id"] for e in events}) == 15
    assert [e["is_matched"] for e in events].count(False) == 1

    # the analytics read for the API: the same numbers, account-scoped
    analytics = campaign_analytics(ch, account_id, campaign)
    assert analytics is not None
    assert (analytics["totals"]["sends"], analytics["totals"]["unique_clicks"]) == (6, 1)
    assert sum(h["sends"] for h in analytics["by_hour"]) == 6
    assert {p["mailbox_provider"]: p["sends"] for p in analytics["by_mailbox_provider"]} == {
        "Gmail": 2, "Yahoo": 1, "Outlook/Hotmail": 1, "Apple iCloud": 1, "Other": 1,
    }  # fmt: skip
    assert analytics["top_links"] == [
        {"url": "https://acme.io/sale", "clicks": 1, "unique_clicks": 1}
    ]
    assert analytics["refreshed_at"] is not None
    assert campaign_analytics(ch, uuid.uuid4(), campaign) is None  # another account

    # GDPR: alice is erased; after the next run she is in no ClickHouse table at all
    with db_engine.begin() as conn:
        erase_contact(conn, account_id, contact["alice"], actor="test")
    result = refresh(analytics_settings)
    [check] = [c for c in result.get_asset_check_evaluations() if c.check_name == ERASURE_CHECK]
    assert check.passed
    keys = ErasedKeys(hashes=[email_sha256("alice@gmail.com")], contact_ids=[contact["alice"]])
    assert leftovers(ch, keys) == []
    [perf] = _rows(
        ch, f"select sends, unique_clicks from campaign_performance where campaign_id = {campaign}"
    )
    assert (perf["sends"], perf["unique_clicks"]) == (5, 0)
    assert record["alice"] not in {
        e["email_record_id"] for e in _rows(ch, "select email_record_id from fct_email_events")
    }
