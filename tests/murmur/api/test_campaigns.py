from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from tests.murmur.conftest import MakeAccount, auth

pytestmark = pytest.mark.integration


def _ready_campaign(client: TestClient, h: dict[str, str], **overrides: Any) -> Any:
    tpl = client.post(
        "/api/v1/templates",
        headers=h,
        json={"name": "t", "subject": "s", "body_html": "<p>Hi {{ first_name }}</p>"},
    ).json()
    seg = client.post(
        "/api/v1/segments", headers=h, json={"name": "s", "definition": {"all": []}}
    ).json()
    body = {
        "name": "Launch",
        "subject": "Hello {{ first_name }}",
        "template_id": tpl["template_id"],
        "segment_id": seg["segment_id"],
        **overrides,
    }
    response = client.post("/api/v1/campaigns", headers=h, json=body)
    assert response.status_code == 201, response.text
    return response.json()


def test_a_ready_campaign_is_sent_into_scheduled_now(
    api_client: TestClient, make_account: MakeAccount
) -> None:
    h = auth(make_account("editor")[1])
    campaign = _ready_campaign(api_client, h)
    assert campaign["status"] == "draft"
    url = f"/api/v1/campaigns/{campaign['campaign_id']}"
    sent = api_client.post(f"{url}/send", headers=h)
    assert sent.status_code == 200, sent.text
    assert sent.json()["status"] == "scheduled"
    assert sent.json()["scheduled_at"] is not None
    assert api_client.get(url, headers=h).json()["status"] == "scheduled"
    listed = api_client.get("/api/v1/campaigns", headers=h, params={"status": "scheduled"})
    assert [c["campaign_id"] for c in listed.json()["items"]] == [campaign["campaign_id"]]


def test_a_future_scheduled_at_is_kept_when_sending(
    api_client: TestClient, make_account: MakeAccount
) -> None:
    h = auth(make_account("editor")[1])
    campaign = _ready_campaign(api_client, h, scheduled_at="2099-01-01T09:00:00")
    sent = api_client.post(f"/api/v1/campaigns/{campaign['campaign_id']}/send", headers=h)
    assert sent.json()["scheduled_at"].startswith("2099-01-01T09:00:00")


def test_send_lists_every_missing_piece_naming_the_field(
    api_client: TestClient, make_account: MakeAccount
) -> None:
    _, key = make_account(
        "editor", postal_address=None, default_from_email=None, default_from_name=None
    )
    h = auth(key)
    bare = api_client.post("/api/v1/campaigns", headers=h, json={"name": "c", "subject": "s"})
    response = api_client.post(f"/api/v1/campaigns/{bare.json()['campaign_id']}/send", headers=h)
    assert response.status_code == 422
    fields = {d["loc"][1] for d in response.json()["detail"]}
    assert fields == {"from_email", "from_name", "postal_address", "segment_id", "template_id"}
    assert (
        api_client.get(f"/api/v1/campaigns/{bare.json()['campaign_id']}", headers=h).json()[
            "status"
        ]
        == "draft"
    )


def test_send_refuses_a_template_that_fails_to_render(
    api_client: TestClient, make_account: MakeAccount
) -> None:
    h = auth(make_account("editor")[1])
    campaign = _ready_campaign(api_client, h, subject="{{ 1 / 0 }}")
    response = api_client.post(f"/api/v1/campaigns/{campaign['campaign_id']}/send", headers=h)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["campaign", "subject"]
    sandboxed = _ready_campaign(api_client, h, subject="{{ ''.__class__.__mro__ }}")
    escape = api_client.post(f"/api/v1/campaigns/{sandboxed['campaign_id']}/send", headers=h)
    assert escape.status_code == 422


def test_illegal_status_transitions_answer_409(
    api_client: TestClient, make_account: MakeAccount, db_engine: sa.Engine
) -> None:
    h = auth(make_account("editor")[1])
    campaign = _ready_campaign(api_client, h)
    url = f"/api/v1/campaigns/{campaign['campaign_id']}"
    api_client.post(f"{url}/send", headers=h)
    assert api_client.post(f"{url}/send", headers=h).status_code == 409
    assert api_client.patch(url, headers=h, json={"name": "late edit"}).status_code == 409
    assert api_client.delete(url, headers=h).status_code == 409
    with db_engine.begin() as conn:
        conn.execute(
            sa.text("update campaigns set status = 'sent' where campaign_id = :id"),
            {"id": campaign["campaign_id"]},
        )
    cancel = api_client.post(f"{url}/cancel", headers=h)
    assert cancel.status_code == 409
    assert "sent" in cancel.json()["detail"]


def test_a_draft_is_edited_cancelled_and_deleted(
    api_client: TestClient, make_account: MakeAccount
) -> None:
    h = auth(make_account("editor")[1])
    campaign = _ready_campaign(api_client, h)
    url = f"/api/v1/campaigns/{campaign['campaign_id']}"
    patched = api_client.patch(url, headers=h, json={"name": "Renamed", "from_email": "Me@X.io"})
    assert (patched.json()["name"], patched.json()["from_email"]) == ("Renamed", "me@x.io")
    assert api_client.patch(url, headers=h, json={"template_id": 10**12}).status_code == 422
    assert api_client.patch(url, headers=h, json={"subject": "{{"}).status_code == 422
    assert api_client.post(f"{url}/cancel", headers=h).json()["status"] == "cancelled"
    assert api_client.post(f"{url}/send", headers=h).status_code == 409
    assert api_client.delete(url, headers=h).status_code == 204
    assert api_client.get(url, headers=h).status_code == 404
    assert api_client.post(f"{url}/cancel", headers=h).status_code == 404
