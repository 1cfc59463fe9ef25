"""`GET /api/v1/campaigns/{id}/analytics` on a real ClickHouse: mart rows in → the same numbers out.

The mart tables are created in a fresh ClickHouse database with the columns dbt builds
(dbt_project/models/marts) and filled with known rows, so every number is known exactly.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client
from fastapi.testclient import TestClient

from murmur.clickhouse import ensure_database, get_client
from murmur.net import free_port
from murmur.settings import Settings, get_settings
from tests.clickhouse_db import private_clickhouse
from tests.murmur.conftest import MakeAccount, auth

pytestmark = pytest.mark.integration

UTC = dt.UTC
T0 = dt.datetime(2026, 11, 30, 8, tzinfo=UTC)
REFRESHED = dt.datetime(2026, 11, 30, 12, 5, tzinfo=UTC)

_DDL = [
    """create table campaign_performance (
        account_id UUID, campaign_id Int64, campaign_name Nullable(String),
        sending_domain Nullable(String), sends UInt64, delivered UInt64, bounced UInt64,
        hard_bounced UInt64, soft_bounced UInt64, unique_opens UInt64,
        unique_human_opens UInt64, machine_only_opens UInt64, unique_clicks UInt64,
        unique_human_open_clicks UInt64, complained UInt64, unsubscribed UInt64,
        total_opens UInt64, total_clicks UInt64, delivery_rate Nullable(Float64),
        bounce_rate Nullable(Float64), hard_bounce_rate Nullable(Float64),
        open_rate Nullable(Float64), human_open_rate Nullable(Float64),
        click_rate Nullable(Float64), click_to_open_rate Nullable(Float64),
        human_click_to_open_rate Nullable(Float64), complaint_rate Nullable(Float64),
        unsubscribe_rate Nullable(Float64), first_sent_at Nullable(DateTime64(3, 'UTC')),
        last_sent_at Nullable(DateTime64(3, 'UTC')), refreshed_at DateTime64(3, 'UTC')
    ) engine = MergeTree order by (account_id, campaign_id)""",
    """create table campaign_performance_hourly (
        account_id UUID, campaign_id Int64, hour_at DateTime('UTC'), sends UInt64,
        delivered UInt64, bounced UInt64, unique_opens UInt64, unique_human_opens UInt64,
        unique_clicks UInt64, complained UInt64, unsubscribed UInt64
    ) engine = MergeTree order by (account_id, campaign_id, hour_at)""",
    """create table fct_email_sends (
        account_id UUID, campaign_id Int64, email_record_id Int64, mailbox_provider String,
        is_delivered Bool, is_bounced Bool, is_complained Bool, is_opened Bool,
        is_human_opened Bool, is_clicked Bool
    ) engine = MergeTree order by (account_id, campaign_id, email_record_id)""",
    """create table fct_email_events (
        account_id UUID, campaign_id Int64, email_record_id Int64, event_type String,
        url Nullable(String)
    ) engine = MergeTree order by (account_id, campaign_id, email_record_id)""",
]

# sends: (email id, provider, delivered, bounced, complained, opened, human opened, clicked)
SENDS = [
    (1, "gmail", True, False, False, True, True, True),
    (2, "gmail", True, False, False, True, False, False),
    (3, "gmail", True, False, True, False, False, False),
    (4, "yahoo", False, True, False, False, False, False),
    (5, "outlook", True, False, False, True, True, True),
]
EVENTS = [
    (1, "click", "https://example.com/a"),
    (1, "click", "https://example.com/a"),
    (1, "click", "https://example.com/b"),
    (5, "click", "https://example.com/a"),
    (5, "open", None),
]


def _settings(base: Settings, **changes: Any) -> Settings:
    return get_settings(
        postgres_url=base.postgres_url,
        state_dir=base.state_dir,
        clickhouse_url=changes.get("clickhouse_url", base.clickhouse_url),
        clickhouse_database=changes.get("clickhouse_database", base.clickhouse_database),
    )


@pytest.fixture(scope="module")
def ch_settings(
    migrated_db_url: str, clickhouse_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Settings]:
    state = tmp_path_factory.mktemp("analytics-api")
    with private_clickhouse(migrated_db_url, clickhouse_url, state) as settings:
        yield settings


@pytest.fixture(scope="module")
def marts(ch_settings: Settings) -> Iterator[Client]:
    client = get_client(ch_settings)
    for statement in _DDL:
        client.command(statement)
    yield client
    client.close()


def _client_for(settings: Settings) -> Iterator[TestClient]:
    from murmur.api.app import create_app

    app = create_app(settings)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client
    app.state.engine.dispose()


@pytest.fixture(scope="module")
def client(ch_settings: Settings, marts: Client) -> Iterator[TestClient]:
    yield from _client_for(ch_settings)


def _campaign(client: TestClient, key: str) -> int:
    response = client.post(
        "/api/v1/campaigns", headers=auth(key), json={"name": "Launch", "subject": "Hi"}
    )
    assert response.status_code == 201, response.text
    return int(response.json()["campaign_id"])


def _fill(ch: Client, account: uuid.UUID, campaign: int) -> None:
    counts = [5, 4, 1, 0, 1, 3, 2, 1, 2, 2, 1, 0, 4, 4]
    rates = [0.8, 0.2, 0.0, 0.75, 0.5, 0.5, 2 / 3, 1.0, 0.25, 0.0]
    ch.insert(
        "campaign_performance",
        [
            [
                account,
                campaign,
                "Launch",
                "example.com",
                *counts,
                *rates,
                T0,
                T0 + 5 * MIN,
                REFRESHED,
            ]
        ],
    )
    ch.insert(
        "campaign_performance_hourly",
        [
            [account, campaign, T0, 5, 4, 1, 2, 1, 1, 0, 0],
            [account, campaign, T0 + 2 * HOUR, 0, 0, 0, 1, 1, 1, 1, 0],
        ],
    )
    ch.insert("fct_email_sends", [[account, campaign, *row] for row in SENDS])
    ch.insert("fct_email_events", [[account, campaign, *row] for row in EVENTS])


MIN = dt.timedelta(minutes=1)
HOUR = dt.timedelta(hours=1)


def test_the_endpoint_returns_exactly_the_mart_numbers(
    client: TestClient, marts: Client, make_account: MakeAccount
) -> None:
    account, key = make_account("viewer")
    _, editor = make_account("editor", account)
    campaign = _campaign(client, editor)
    _fill(marts, account, campaign)
    _fill(marts, uuid.uuid4(), campaign)  # the same id in another account is not counted

    response = client.get(f"/api/v1/campaigns/{campaign}/analytics", headers=auth(key))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["campaign_id"] == campaign
    assert dt.datetime.fromisoformat(body["refreshed_at"]) == REFRESHED
    totals = body["totals"]
    assert (totals["sends"], totals["delivered"], totals["bounced"]) == (5, 4, 1)
    assert (totals["unique_opens"], totals["unique_human_opens"]) == (3, 2)
    assert (totals["unique_clicks"], totals["total_clicks"], totals["complained"]) == (2, 4, 1)
    assert totals["delivery_rate"] == 0.8
    assert totals["human_click_to_open_rate"] == 1.0
    assert totals["unsubscribe_rate"] == 0.0
    assert totals["campaign_name"] == "Launch"
    assert dt.datetime.fromisoformat(totals["last_sent_at"]) == T0 + 5 * MIN
    hours = [
        (dt.datetime.fromisoformat(h["hour_at"]), h["sends"], h["unique_clicks"])
        for h in body["by_hour"]
    ]
    assert hours == [(T0, 5, 1), (T0 + 2 * HOUR, 0, 1)]
    providers = {p["mailbox_provider"]: p for p in body["by_mailbox_provider"]}
    assert [p["mailbox_provider"] for p in body["by_mailbox_provider"]] == [
        "gmail",
        "outlook",
        "yahoo",
    ]
    gmail = providers["gmail"]
    assert (gmail["sends"], gmail["delivered"], gmail["complained"]) == (3, 3, 1)
    assert (gmail["unique_opens"], gmail["unique_human_opens"], gmail["unique_clicks"]) == (2, 1, 1)
    assert (providers["yahoo"]["sends"], providers["yahoo"]["bounced"]) == (1, 1)
    assert body["top_links"] == [
        {"url": "https://example.com/a", "clicks": 3, "unique_clicks": 2},
        {"url": "https://example.com/b", "clicks": 1, "unique_clicks": 1},
    ]


def test_another_accounts_campaign_is_a_404(
    client: TestClient, marts: Client, make_account: MakeAccount
) -> None:
    owner, owner_key = make_account("editor")
    campaign = _campaign(client, owner_key)
    _fill(marts, owner, campaign)
    _, stranger = make_account("viewer")
    response = client.get(f"/api/v1/campaigns/{campaign}/analytics", headers=auth(stranger))
    assert response.status_code == 404, response.text
    assert str(campaign) in response.json()["detail"]


def test_a_campaign_not_in_the_marts_answers_zeros_and_no_refresh_time(
    client: TestClient, make_account: MakeAccount
) -> None:
    _, key = make_account("editor")
    campaign = _campaign(client, key)
    body = client.get(f"/api/v1/campaigns/{campaign}/analytics", headers=auth(key)).json()
    assert body["refreshed_at"] is None
    assert body["totals"]["sends"] == 0 and body["totals"]["open_rate"] is None
    assert body["by_hour"] == body["by_mailbox_provider"] == body["top_links"] == []


def test_marts_never_built_answer_zeros(ch_settings: Settings, make_account: MakeAccount) -> None:
    empty_db = f"t_{uuid.uuid4().hex[:12]}"
    settings = _settings(ch_settings, clickhouse_database=empty_db)
    ensure_database(settings)
    try:
        for client in _client_for(settings):
            _, key = make_account("editor")
            campaign = _campaign(client, key)
            response = client.get(f"/api/v1/campaigns/{campaign}/analytics", headers=auth(key))
            assert response.status_code == 200, response.text
            assert response.json()["refreshed_at"] is None
            assert response.json()["totals"]["delivered"] == 0
    finally:
        admin = get_client(settings, database=False)
        admin.command(f"drop database if exists `{empty_db}` sync")
        admin.close()


def test_clickhouse_unreachable_is_a_503_saying_so(
    ch_settings: Settings, make_account: MakeAccount
) -> None:
    settings = _settings(ch_settings, clickhouse_url=f"http://127.0.0.1:{free_port()}")
    for client in _client_for(settings):
        _, key = make_account("editor")
        campaign = _campaign(client, key)
        response = client.get(f"/api/v1/campaigns/{campaign}/analytics", headers=auth(key))
        assert response.status_code == 503, response.text
        assert "ClickHouse cannot be reached" in response.json()["detail"]


def test_the_response_model_is_in_the_openapi_document(client: TestClient) -> None:
    spec = client.get("/api/v1/openapi.json").json()
    operation = spec["paths"]["/api/v1/campaigns/{campaign_id}/analytics"]["get"]
    ok = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok["$ref"].endswith("/CampaignAnalytics")
    assert "top_links" in spec["components"]["schemas"]["CampaignAnalytics"]["properties"]
