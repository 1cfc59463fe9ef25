"""Account settings, users and API keys (admin endpoints)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.murmur.conftest import MakeAccount, auth

pytestmark = pytest.mark.integration


def test_an_admin_updates_the_accounts_sender_identity_and_postal_address(
    api_client: TestClient, make_account: MakeAccount
) -> None:
    account_id, key = make_account("admin")
    h = auth(key)
    body = {"postal_address": "2 Main St", "default_from_email": "News@Shop.io"}
    patched = api_client.patch("/api/v1/account", headers=h, json=body)
    assert patched.status_code == 200
    assert patched.json()["account_id"] == str(account_id)
    assert patched.json()["default_from_email"] == "news@shop.io"
    assert api_client.get("/api/v1/account", headers=h).json()["postal_address"] == "2 Main St"
    bad = api_client.patch("/api/v1/account", headers=h, json={"default_reply_to": "nope"})
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"] == ["body", "default_reply_to"]


def test_users_are_created_with_hashed_passwords_listed_and_deleted(
    api_client: TestClient, make_account: MakeAccount
) -> None:
    h = auth(make_account("admin")[1])
    body = {"email": "Ops@Example.com", "password": "correct horse battery", "role": "editor"}
    created = api_client.post("/api/v1/users", headers=h, json=body)
    assert created.status_code == 201
    assert created.json()["email"] == "ops@example.com"
    assert "password" not in created.text and "hash" not in created.text
    assert api_client.post("/api/v1/users", headers=h, json=body).status_code == 409
    short = api_client.post("/api/v1/users", headers=h, json={**body, "password": "short"})
    assert short.status_code == 422
    listed = api_client.get("/api/v1/users", headers=h).json()["items"]
    assert [u["email"] for u in listed] == ["ops@example.com"]
    url = f"/api/v1/users/{created.json()['user_id']}"
    assert api_client.get(url, headers=h).status_code == 200
    assert api_client.delete(url, headers=h).status_code == 204
    assert api_client.delete(url, headers=h).status_code == 404


def test_an_api_key_is_shown_once_works_and_stops_working_when_revoked(
    api_client: TestClient, make_account: MakeAccount
) -> None:
    h = auth(make_account("admin")[1])
    created = api_client.post("/api/v1/api-keys", headers=h, json={"role": "viewer", "name": "bi"})
    assert created.status_code == 201
    key = created.json()["key"]
    assert key.startswith(f"mm_{created.json()['prefix']}_")
    listed = api_client.get("/api/v1/api-keys", headers=h).json()["items"]
    assert all("key" not in k and "secret_hash" not in k for k in listed)
    assert len(listed) == 2
    assert api_client.get("/api/v1/contacts", headers=auth(key)).status_code == 200
    after = api_client.get("/api/v1/api-keys", headers=h).json()["items"]
    assert next(k for k in after if k["name"] == "bi")["last_used_at"] is not None
    revoked = api_client.delete(f"/api/v1/api-keys/{created.json()['api_key_id']}", headers=h)
    assert revoked.status_code == 200
    assert revoked.json()["revoked_at"] is not None
    assert api_client.get("/api/v1/contacts", headers=auth(key)).status_code == 401
    bad_role = api_client.post("/api/v1/api-keys", headers=h, json={"role": "root"})
    assert bad_role.status_code == 422


def test_the_openapi_document_and_docs_are_served(api_client: TestClient) -> None:
    spec = api_client.get("/api/v1/openapi.json").json()
    assert "/api/v1/campaigns/{campaign_id}/send" in spec["paths"]
    assert api_client.get("/api/v1/docs").status_code == 200
