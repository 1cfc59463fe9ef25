"""The reporting pages with data: the numbers on each page are the marts' numbers."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from murmur.clickhouse import get_client
from tests.dashboards.conftest import SignIn
from tests.dashboards.world import World

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def page(at: AppTest, path: str) -> AppTest:
    at.switch_page(path).run()
    assert not at.exception, at.exception
    failed = [e.value for e in at.error if e.value.startswith("Could not load")]
    assert not failed, failed
    return at


def mart(world: World, sql: str) -> tuple:
    ch = get_client(world.settings)
    try:
        return tuple(ch.query(sql, parameters={"a": str(world.account_id)}).result_rows[0])
    finally:
        ch.close()


def test_the_overview_shows_the_marts_totals_and_rates(signed_in: SignIn, world: World) -> None:
    at = page(signed_in("viewer"), "app_pages/overview.py")
    sends, delivered, opens, clicks, bounced, complained, unsub = mart(
        world,
        "select sum(sends), sum(delivered), sum(unique_opens), sum(unique_clicks), sum(bounced),"
        " sum(complained), sum(unsubscribed) from campaign_performance where account_id = {a:UUID}",
    )
    assert (sends, delivered, opens, clicks) == (6, 4, 3, 1)  # the scripted history
    shown = metrics(at)
    assert shown["Sends"] == str(sends)
    assert shown["Delivery rate"] == f"{100 * delivered / sends:.1f}%"
    assert shown["Unique open rate"] == f"{100 * opens / delivered:.1f}%"
    assert shown["Unique click rate"] == f"{100 * clicks / delivered:.1f}%"
    assert (shown["Bounces"], shown["Complaints"], shown["Unsubscribes"]) == (
        str(bounced), str(complained), str(unsub)
    )  # fmt: skip
    [top] = [df.value for df in at.dataframe][-1:]
    assert list(top["campaign_name"]) == ["November news"]  # the other account's never shows


def test_the_campaign_report_shows_funnel_links_bounces_and_a_csv(
    signed_in: SignIn, world: World
) -> None:
    at = page(signed_in("viewer"), "app_pages/campaign_report.py")
    select = next(s for s in at.selectbox if s.label == "Campaign")
    assert list(select.options) == [f"November news (#{world.campaign_id})"]
    shown = metrics(at)
    assert shown["Sends"] == "6" and shown["Unique open rate"] == "75.0%"
    frames = [df.value for df in at.dataframe]
    funnel = frames[0]
    assert dict(zip(funnel["step"], funnel["count"], strict=True)) == {
        "queued": 6, "sent": 6, "delivered": 4, "opened": 3, "clicked": 1,
    }  # fmt: skip
    links = next(f for f in frames if "url" in f.columns)
    assert list(links["url"]) == ["https://acme.io/sale"]
    bounces = next(f for f in frames if "bounce_type" in f.columns)
    assert dict(zip(bounces["bounce_type"], bounces["sends"], strict=True)) == {"hard": 1}
    providers = next(f for f in frames if "mailbox_provider" in f.columns)
    assert int(providers["sends"].sum()) == 6
    [download] = at.get("download_button")
    assert download.proto.label == "Download CSV"


def test_deliverability_draws_the_thresholds_and_matches_the_mart(
    signed_in: SignIn, world: World
) -> None:
    at = page(signed_in("viewer"), "app_pages/deliverability.py")
    sends, bounced, complained, delivered = mart(
        world,
        "select sum(sends), sum(bounced), sum(complained), sum(delivered)"
        " from deliverability_by_mailbox_provider where account_id = {a:UUID}",
    )
    shown = metrics(at)
    assert shown["Sends"] == str(sends) == "6"
    assert shown["Bounce rate"] == f"{100 * bounced / sends:.2f}%"
    assert shown["Spam-complaint rate"] == f"{100 * complained / delivered:.3f}%"
    # 1 complaint in 4 delivered is far above the 0.3% Gmail/Yahoo limit
    assert [e.value for e in at.error] == [
        "The complaint rate is at or above 0.3%, the Gmail/Yahoo bulk-sender limit."
    ]
    charts = at.get("vega_lite_chart")
    # the threshold rules are layers whose data (the labels) Streamlit ships as datasets
    specs = " ".join(c.proto.spec + str(list(c.proto.datasets)) for c in charts)
    assert specs.count('"rule"') >= 2  # one per complaint chart (provider, sending domain)
    assert "0.3% bulk-sender limit" in specs and "0.1% safe line" in specs
    assert "Suppressed addresses" in shown and shown["Suppressed addresses"] == "2"


def test_segments_show_sizes_members_history_and_sql(signed_in: SignIn, world: World) -> None:
    at = page(signed_in("viewer"), "app_pages/segments.py")
    shown = metrics(at)
    assert shown["Members"] == "3" and shown["Kind"] == "criteria"
    sample = next(df.value for df in at.dataframe if "mailbox_provider" in df.value.columns)
    assert sorted(sample["contact_id"]) == sorted(
        world.contacts[k] for k in ("alice", "bob", "dave")
    )
    assert "contacts.status = 'subscribed'" in at.code[0].value


def test_contact_360_finds_a_contact_and_shows_their_activity(
    signed_in: SignIn, world: World
) -> None:
    at = page(signed_in("viewer"), "app_pages/contact_360.py")
    at.text_input[0].input("alice@").run()
    assert not at.exception
    shown = metrics(at)
    assert shown["Status"] == "subscribed"
    timeline = next(df.value for df in at.dataframe if "event_type" in df.value.columns)
    assert sorted(timeline["event_type"]) == ["click", "delivery", "open", "open"]
    assert "Engaged" in " ".join(m.value for m in at.markdown)
    assert not [b for b in at.button if b.label.startswith("Erase")]  # viewers cannot erase


def test_contact_search_is_scoped_to_the_account(signed_in: SignIn, world: World) -> None:
    at = page(signed_in("viewer"), "app_pages/contact_360.py")
    at.text_input[0].input("x@gmail.com").run()  # a contact of the other account
    assert "No contact of this account matches" in at.info[0].value


def test_pipeline_health_shows_lag_dlq_and_the_dagster_runs(
    signed_in: SignIn, world: World
) -> None:
    at = page(signed_in("viewer"), "app_pages/pipeline_health.py")
    shown = metrics(at)
    assert shown["Dead letters (DLQ)"] == "0"
    assert shown["Consumer lag (messages)"] != "?"
    runs = next(df.value for df in at.dataframe if "run_id" in df.value.columns)
    assert len(runs) >= 2 and set(runs["status"]) == {"SUCCESS"}
    checks = next(df.value for df in at.dataframe if "check" in df.value.columns)
    assert len(checks) and checks["passed"].all()


def test_the_clickhouse_connection_comes_from_the_secrets_when_they_name_one(
    monkeypatch: pytest.MonkeyPatch, world: World
) -> None:
    # Regression: a secrets section is a Mapping, not a dict, and was ignored.
    from tests.dashboards.conftest import APP, app_env
    from tests.dashboards.world import PASSWORD

    app_env(monkeypatch, world.settings)
    monkeypatch.setenv("MURMUR_CLICKHOUSE_DATABASE", "no_such_database")
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.secrets["connections"] = {
        "clickhouse": {
            "url": world.settings.clickhouse_url,
            "database": world.settings.clickhouse_database,
        }
    }
    at.run()
    at.text_input[0].input(world.user("viewer"))
    at.text_input[1].input(PASSWORD)
    at.button[0].click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert metrics(at)["Sends"] == "6"
