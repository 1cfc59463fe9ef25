"""Scheduling pins the checked template version; the dispatch check re-verifies and fails the
campaign with a reason; the last admin key cannot be revoked.
"""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from murmur.domain.campaigns import (
    CampaignChanged,
    CampaignNotReady,
    check_send,
    dispatch_check,
    fail_campaign,
    schedule_checked,
)
from tests.murmur.conftest import MakeAccount, auth

pytestmark = pytest.mark.integration


def _scheduled(client: TestClient, h: dict[str, str]) -> tuple[int, int]:
    """A sent (scheduled) campaign: (campaign id, template id)."""
    tpl = client.post(
        "/api/v1/templates",
        headers=h,
        json={"name": "t", "subject": "s", "body_html": "<p>Hi {{ first_name }}</p>"},
    ).json()
    seg = client.post(
        "/api/v1/segments", headers=h, json={"name": "s", "definition": {"all": []}}
    ).json()
    campaign = client.post(
        "/api/v1/campaigns",
        headers=h,
        json={
            "name": "c",
            "subject": "Hello",
            "template_id": tpl["template_id"],
            "segment_id": seg["segment_id"],
        },
    ).json()
    sent = client.post(f"/api/v1/campaigns/{campaign['campaign_id']}/send", headers=h)
    assert sent.status_code == 200, sent.text
    return int(campaign["campaign_id"]), int(tpl["template_id"])


def test_a_scheduled_campaign_pins_its_template_version_and_dispatch_renders_that_version(
    api_client: TestClient, make_account: MakeAccount, db_engine: sa.Engine
) -> None:
    # Regression: editing the template after scheduling undid the checks.
    account_id, key = make_account("admin")
    h = auth(key)
    campaign_id, template_id = _scheduled(api_client, h)
    campaign = api_client.get(f"/api/v1/campaigns/{campaign_id}", headers=h).json()
    assert campaign["template_version"] == 1
    broken = api_client.patch(
        f"/api/v1/templates/{template_id}", headers=h, json={"body_html": "{{ 1 / 0 }}"}
    )
    assert broken.json()["version"] == 2
    with db_engine.connect() as conn:
        dispatch_check(conn, account_id, campaign_id)  # version 1 still renders


def test_dispatch_refuses_once_the_postal_address_is_gone_and_the_campaign_fails_with_a_reason(
    api_client: TestClient, make_account: MakeAccount, db_engine: sa.Engine
) -> None:
    # Regression: removing the postal address after scheduling was not noticed at dispatch.
    account_id, key = make_account("admin")
    h = auth(key)
    campaign_id, _ = _scheduled(api_client, h)
    assert api_client.patch("/api/v1/account", headers=h, json={"postal_address": None}).is_success
    with db_engine.connect() as conn, pytest.raises(CampaignNotReady) as refused:
        dispatch_check(conn, account_id, campaign_id)
    assert [field for field, _ in refused.value.problems] == ["postal_address"]
    with db_engine.begin() as conn:
        failed = fail_campaign(conn, account_id, campaign_id, str(refused.value))
    assert failed is not None
    shown = api_client.get(f"/api/v1/campaigns/{campaign_id}", headers=h).json()
    assert shown["status"] == "cancelled"
    assert "postal_address" in shown["status_reason"]


def test_blank_sender_identity_stored_before_the_rules_is_treated_as_missing(
    api_client: TestClient, make_account: MakeAccount, db_engine: sa.Engine
) -> None:
    # Regression: whitespace-only postal addresses and sender names passed the send checks.
    _, key = make_account("admin", postal_address="  ", default_from_name=" \t")
    h = auth(key)
    tpl = api_client.post(
        "/api/v1/templates", headers=h, json={"name": "t", "subject": "s", "body_html": "b"}
    ).json()
    seg = api_client.post(
        "/api/v1/segments", headers=h, json={"name": "s", "definition": {"all": []}}
    ).json()
    body = {"name": "c", "subject": "s", "template_id": tpl["template_id"]}
    campaign = api_client.post("/api/v1/campaigns", headers=h, json=body).json()
    patch = {"segment_id": seg["segment_id"]}
    api_client.patch(f"/api/v1/campaigns/{campaign['campaign_id']}", headers=h, json=patch)
    sent = api_client.post(f"/api/v1/campaigns/{campaign['campaign_id']}/send", headers=h)
    assert sent.status_code == 422
    assert {d["loc"][1] for d in sent.json()["detail"]} == {"postal_address", "from_name"}


def test_a_campaign_edited_between_check_and_lock_is_not_scheduled(
    api_client: TestClient, make_account: MakeAccount, db_engine: sa.Engine
) -> None:
    account_id, key = make_account("admin")
    h = auth(key)
    tpl = api_client.post(
        "/api/v1/templates", headers=h, json={"name": "t", "subject": "s", "body_html": "b"}
    ).json()
    seg = api_client.post(
        "/api/v1/segments", headers=h, json={"name": "s", "definition": {"all": []}}
    ).json()
    body: dict[str, Any] = {
        "name": "c",
        "subject": "s",
        "template_id": tpl["template_id"],
        "segment_id": seg["segment_id"],
    }
    campaign_id = api_client.post("/api/v1/campaigns", headers=h, json=body).json()["campaign_id"]
    with db_engine.connect() as conn:
        check = check_send(conn, account_id, campaign_id)
    assert check is not None and not check.problems
    api_client.patch(
        f"/api/v1/templates/{tpl['template_id']}", headers=h, json={"body_html": "{{ 1/0 }}"}
    )
    with db_engine.begin() as conn, pytest.raises(CampaignChanged):
        schedule_checked(conn, account_id, check, "test")
    with db_engine.connect() as conn:
        assert check_send(conn, account_id, campaign_id) is not None
    assert api_client.get(f"/api/v1/campaigns/{campaign_id}", headers=h).json()["status"] == (
        "draft"
    )


def test_the_last_admin_key_cannot_be_revoked(
    api_client: TestClient, make_account: MakeAccount
) -> None:
    # Regression: an admin could revoke the account's last admin key (409 now).
    _, key = make_account("admin")
    h = auth(key)
    own = next(
        k
        for k in api_client.get("/api/v1/api-keys", headers=h).json()["items"]
        if k["role"] == "admin"
    )
    refused = api_client.delete(f"/api/v1/api-keys/{own['api_key_id']}", headers=h)
    assert refused.status_code == 409
    assert "last active admin key" in refused.json()["detail"]
    other = api_client.post("/api/v1/api-keys", headers=h, json={"role": "admin"}).json()
    revoked = api_client.delete(f"/api/v1/api-keys/{own['api_key_id']}", headers=h)
    assert revoked.status_code == 200
    assert revoked.json()["revoked_at"] is not None
    h2 = auth(other["key"])
    last = api_client.delete(f"/api/v1/api-keys/{other['api_key_id']}", headers=h2)
    assert last.status_code == 409
    listed = api_client.get("/api/v1/api-keys", headers=h2).json()["items"]
    assert [k["api_key_id"] for k in listed if k["revoked_at"] is None] == [other["api_key_id"]]
