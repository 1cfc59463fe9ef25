"""Every endpoint: 401 without a valid key, 403 for a too-low role, 404 across accounts."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.murmur.conftest import MakeAccount, auth

pytestmark = pytest.mark.integration

# ses without credentials uses the default AWS chain, so no MURMUR_SECRET_KEY is needed
ESP_BODY = {"name": "relay", "kind": "ses", "settings": {"region": "eu-west-1"}}
BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/api/v1/contacts"): {"email": "new@example.com"},
    ("PATCH", "/api/v1/contacts/{contact_id}"): {"first_name": "Changed"},
    ("POST", "/api/v1/contacts/{contact_id}/consent"): {"source": "test"},
    ("POST", "/api/v1/contacts/{contact_id}/unsubscribe"): {},
    ("POST", "/api/v1/segments"): {"name": "s", "definition": {"all": []}},
    ("PATCH", "/api/v1/segments/{segment_id}"): {"name": "changed"},
    ("POST", "/api/v1/templates"): {"name": "t", "subject": "s", "body_html": "b"},
    ("PATCH", "/api/v1/templates/{template_id}"): {"name": "changed"},
    ("POST", "/api/v1/campaigns"): {"name": "c", "subject": "s"},
    ("PATCH", "/api/v1/campaigns/{campaign_id}"): {"name": "changed"},
    ("POST", "/api/v1/campaigns/{campaign_id}/test-send"): {"addresses": ["qa@example.com"]},
    ("POST", "/api/v1/suppressions"): {"email": "x@example.com"},
    ("POST", "/api/v1/users"): {"email": "u@example.com", "password": "long-enough-pw"},
    ("POST", "/api/v1/api-keys"): {"role": "viewer"},
    ("PATCH", "/api/v1/account"): {"name": "changed"},
    ("POST", "/api/v1/esps"): ESP_BODY,
    ("PATCH", "/api/v1/esps/{esp_id}"): {"name": "changed"},
}
OWN_TAGS = {
    "account",
    "users",
    "api keys",
    "contacts",
    "gdpr",
    "suppressions",
    "segments",
    "templates",
    "campaigns",
    "esps",
}
ADMIN_ONLY = re.compile(r"^/api/v1/(users|api-keys)|/export$|/erase$")
ADMIN_WRITES = ("/api/v1/account", "/api/v1/esps")  # readable by viewers, changed by admins


def _own_routes(app: FastAPI) -> list[tuple[str, str]]:
    """(method, path) of every operation of this package's routers (not contact imports)."""
    routes = []
    for path, operations in app.openapi()["paths"].items():
        for method, operation in operations.items():
            if set(operation.get("tags", ())) & OWN_TAGS and "import" not in path:
                routes.append((method.upper(), path))
    assert len(routes) >= 40
    return routes


def _seed(client: TestClient, key: str) -> dict[str, int]:
    h = auth(key)
    ids: dict[str, int] = {}
    ids["contact_id"] = client.post(
        "/api/v1/contacts", headers=h, json={"email": f"{uuid.uuid4().hex}@example.com"}
    ).json()["contact_id"]
    ids["segment_id"] = client.post(
        "/api/v1/segments", headers=h, json={"name": "seg", "definition": {"all": []}}
    ).json()["segment_id"]
    ids["template_id"] = client.post(
        "/api/v1/templates", headers=h, json={"name": "t", "subject": "s", "body_html": "b"}
    ).json()["template_id"]
    ids["campaign_id"] = client.post(
        "/api/v1/campaigns", headers=h, json={"name": "c", "subject": "s"}
    ).json()["campaign_id"]
    ids["suppression_id"] = client.post(
        "/api/v1/suppressions", headers=h, json={"email": f"{uuid.uuid4().hex}@example.com"}
    ).json()["suppression_id"]
    ids["user_id"] = client.post(
        "/api/v1/users", headers=h, json={"email": "u@example.com", "password": "x" * 12}
    ).json()["user_id"]
    ids["api_key_id"] = client.post("/api/v1/api-keys", headers=h, json={"role": "viewer"}).json()[
        "api_key_id"
    ]
    ids["esp_id"] = client.post("/api/v1/esps", headers=h, json=ESP_BODY).json()["esp_id"]
    return ids


@pytest.fixture(scope="module")
def tenants(api_client: TestClient, make_account: MakeAccount) -> dict[str, Any]:
    account_a, admin_a = make_account("admin")
    _, viewer_a = make_account("viewer", account_id=account_a)
    _, editor_a = make_account("editor", account_id=account_a)
    _, admin_b = make_account("admin")
    return {
        "admin_a": admin_a,
        "viewer_a": viewer_a,
        "editor_a": editor_a,
        "admin_b": admin_b,
        "ids_a": _seed(api_client, admin_a),
        "ids_b": _seed(api_client, admin_b),
    }


def _call(client: TestClient, method: str, path: str, ids: dict[str, int], key: str | None) -> Any:
    url = path.format(**ids)
    body = BODIES.get((method, path))
    headers = auth(key) if key else {}
    return client.request(method, url, headers=headers, json=body)


def test_every_endpoint_answers_401_without_a_key_or_with_a_bad_or_revoked_one(
    api_app: FastAPI, api_client: TestClient, make_account: MakeAccount, db_engine: sa.Engine
) -> None:
    _account_id, revoked = make_account("admin")
    prefix = revoked.split("_")[1]
    with db_engine.begin() as conn:
        conn.execute(
            sa.text("update api_keys set revoked_at = now() where prefix = :p"), {"p": prefix}
        )
    ids = dict.fromkeys(
        (
            "contact_id",
            "segment_id",
            "template_id",
            "campaign_id",
            "suppression_id",
            "user_id",
            "api_key_id",
            "esp_id",
        ),
        1,
    )
    bad_keys = [None, "nonsense", f"mm_{prefix}_wrong-secret", revoked]
    for method, path in _own_routes(api_app):
        for key in bad_keys:
            response = _call(api_client, method, path, ids, key)
            assert response.status_code == 401, (method, path, key, response.text)
            assert "detail" in response.json()


def test_a_viewer_key_cannot_write_anything(
    api_app: FastAPI, api_client: TestClient, tenants: dict[str, Any]
) -> None:
    writes = [(m, p) for m, p in _own_routes(api_app) if m != "GET"]
    assert len(writes) >= 20
    for method, path in writes:
        response = _call(api_client, method, path, tenants["ids_a"], tenants["viewer_a"])
        assert response.status_code == 403, (method, path, response.text)
        assert "role" in response.json()["detail"]


def test_an_editor_key_cannot_manage_users_keys_account_or_gdpr(
    api_app: FastAPI, api_client: TestClient, tenants: dict[str, Any]
) -> None:
    admin_routes = [
        (m, p)
        for m, p in _own_routes(api_app)
        if ADMIN_ONLY.search(p) or (p.startswith(ADMIN_WRITES) and m != "GET")
    ]
    assert len(admin_routes) >= 11
    for method, path in admin_routes:
        response = _call(api_client, method, path, tenants["ids_a"], tenants["editor_a"])
        assert response.status_code == 403, (method, path, response.text)


def test_a_viewer_can_read_its_own_accounts_objects(
    api_client: TestClient, tenants: dict[str, Any]
) -> None:
    ids, h = tenants["ids_a"], auth(tenants["viewer_a"])
    for path in ("contacts", "segments", "templates", "campaigns", "suppressions"):
        assert api_client.get(f"/api/v1/{path}", headers=h).status_code == 200
    assert api_client.get(f"/api/v1/contacts/{ids['contact_id']}", headers=h).status_code == 200
    assert api_client.get("/api/v1/account", headers=h).status_code == 200


def test_no_endpoint_lets_account_a_see_or_change_account_b_objects(
    api_app: FastAPI, api_client: TestClient, tenants: dict[str, Any]
) -> None:
    ids_b = tenants["ids_b"]
    checked = 0
    for method, path in _own_routes(api_app):
        if "{" not in path:
            continue
        response = _call(api_client, method, path, ids_b, tenants["admin_a"])
        assert response.status_code == 404, (method, path, response.text)
        checked += 1
    assert checked >= 20
    h_b = auth(tenants["admin_b"])
    for name, path in (
        ("contact_id", "contacts"),
        ("segment_id", "segments"),
        ("template_id", "templates"),
        ("campaign_id", "campaigns"),
        ("suppression_id", "suppressions"),
        ("user_id", "users"),
        ("esp_id", "esps"),
    ):
        got = api_client.get(f"/api/v1/{path}/{ids_b[name]}", headers=h_b)
        assert got.status_code == 200, path
        assert "changed" not in got.text


def test_lists_only_show_the_callers_account(
    api_client: TestClient, tenants: dict[str, Any]
) -> None:
    h_a = auth(tenants["admin_a"])
    for name, path in (
        ("contact_id", "contacts"),
        ("segment_id", "segments"),
        ("template_id", "templates"),
        ("campaign_id", "campaigns"),
        ("suppression_id", "suppressions"),
        ("user_id", "users"),
        ("api_key_id", "api-keys"),
        ("esp_id", "esps"),
    ):
        items = api_client.get(f"/api/v1/{path}", headers=h_a, params={"limit": 500}).json()
        assert tenants["ids_b"][name] not in {item[name] for item in items["items"]}, path


def test_a_campaign_cannot_reference_another_accounts_template_or_segment(
    api_client: TestClient, tenants: dict[str, Any]
) -> None:
    h_a, ids_b = auth(tenants["admin_a"]), tenants["ids_b"]
    for field in ("template_id", "segment_id"):
        response = api_client.post(
            "/api/v1/campaigns",
            headers=h_a,
            json={"name": "c", "subject": "s", field: ids_b[field]},
        )
        assert response.status_code == 422
        assert response.json()["detail"][0]["loc"] == ["body", field]
