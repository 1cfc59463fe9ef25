"""Segments, templates and suppressions through the API."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.murmur.conftest import MakeAccount, auth

pytestmark = pytest.mark.integration
PRO = {"all": [{"field": "custom_fields.plan", "op": "eq", "value": "pro"}]}


@pytest.fixture(scope="module")
def h(make_account: MakeAccount) -> dict[str, str]:
    return auth(make_account("editor")[1])


def test_segments_of_both_kinds_are_created_listed_updated_and_deleted(
    api_client: TestClient, h: dict[str, str]
) -> None:
    criteria = api_client.post(
        "/api/v1/segments", headers=h, json={"name": "pros", "definition": PRO}
    )
    assert criteria.status_code == 201
    dbt = api_client.post(
        "/api/v1/segments",
        headers=h,
        json={"name": "active", "kind": "dbt", "dbt_model": "seg_active"},
    )
    assert dbt.status_code == 201
    listed = api_client.get("/api/v1/segments", headers=h, params={"kind": "dbt"}).json()
    assert [s["segment_id"] for s in listed["items"]] == [dbt.json()["segment_id"]]
    url = f"/api/v1/segments/{criteria.json()['segment_id']}"
    team = {"any": [{"field": "custom_fields.plan", "op": "in", "value": ["team", "pro"]}]}
    patched = api_client.patch(url, headers=h, json={"definition": team})
    assert patched.json()["definition"] == team
    assert api_client.delete(url, headers=h).status_code == 204
    assert api_client.get(url, headers=h).status_code == 404


def test_a_segment_missing_its_definition_or_model_is_rejected_naming_the_field(
    api_client: TestClient, h: dict[str, str]
) -> None:
    no_def = api_client.post("/api/v1/segments", headers=h, json={"name": "x"})
    assert no_def.status_code == 422
    assert no_def.json()["detail"][0]["loc"] == ["body", "definition"]
    no_model = api_client.post("/api/v1/segments", headers=h, json={"name": "x", "kind": "dbt"})
    assert no_model.json()["detail"][0]["loc"] == ["body", "dbt_model"]
    bad_model = api_client.post(
        "/api/v1/segments", headers=h, json={"name": "x", "kind": "dbt", "dbt_model": "a; drop"}
    )
    assert bad_model.status_code == 422
    seg = api_client.post(
        "/api/v1/segments", headers=h, json={"name": "y", "definition": {"all": []}}
    )
    url = f"/api/v1/segments/{seg.json()['segment_id']}"
    assert api_client.patch(url, headers=h, json={"kind": "dbt"}).status_code == 422
    assert api_client.patch(url, headers=h, json={"name": None}).status_code == 422


def test_template_updates_bump_the_version_and_keep_the_history(
    api_client: TestClient, h: dict[str, str]
) -> None:
    created = api_client.post(
        "/api/v1/templates",
        headers=h,
        json={"name": "welcome", "subject": "Hi {{ first_name }}", "body_html": "<p>v1</p>"},
    )
    assert created.status_code == 201
    assert created.json()["version"] == 1
    url = f"/api/v1/templates/{created.json()['template_id']}"
    updated = api_client.patch(url, headers=h, json={"body_html": "<p>v2</p>"})
    assert updated.json()["version"] == 2
    versions = api_client.get(f"{url}/versions", headers=h).json()["items"]
    assert [(v["version"], v["body_html"]) for v in versions] == [
        (1, "<p>v1</p>"),
        (2, "<p>v2</p>"),
    ]
    assert api_client.get("/api/v1/templates", headers=h).json()["items"]
    assert api_client.delete(url, headers=h).status_code == 204
    assert api_client.get(f"{url}/versions", headers=h).status_code == 404


def test_a_template_with_broken_syntax_is_rejected_naming_the_field(
    api_client: TestClient, h: dict[str, str]
) -> None:
    response = api_client.post(
        "/api/v1/templates", headers=h, json={"name": "t", "subject": "ok", "body_html": "{% if %}"}
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "body_html"]


def test_a_template_or_segment_used_by_a_campaign_cannot_be_deleted(
    api_client: TestClient, h: dict[str, str]
) -> None:
    tpl = api_client.post(
        "/api/v1/templates", headers=h, json={"name": "t", "subject": "s", "body_html": "b"}
    ).json()
    seg = api_client.post(
        "/api/v1/segments", headers=h, json={"name": "s", "definition": {"all": []}}
    ).json()
    api_client.post(
        "/api/v1/campaigns",
        headers=h,
        json={
            "name": "c",
            "subject": "s",
            "template_id": tpl["template_id"],
            "segment_id": seg["segment_id"],
        },
    )
    assert (
        api_client.delete(f"/api/v1/templates/{tpl['template_id']}", headers=h).status_code == 409
    )
    assert api_client.delete(f"/api/v1/segments/{seg['segment_id']}", headers=h).status_code == 409


def test_suppressions_are_added_idempotently_listed_and_lifted(
    api_client: TestClient, h: dict[str, str]
) -> None:
    body = {"email": "Stop@Example.com", "reason": "complaint", "source": "fbl"}
    first = api_client.post("/api/v1/suppressions", headers=h, json=body)
    assert first.status_code == 201
    assert first.json()["email"] == "stop@example.com"
    again = api_client.post("/api/v1/suppressions", headers=h, json={**body, "reason": "manual"})
    assert again.json()["suppression_id"] == first.json()["suppression_id"]
    assert again.json()["reason"] == "manual"
    listed = api_client.get("/api/v1/suppressions", headers=h, params={"reason": "manual"})
    assert first.json()["suppression_id"] in {s["suppression_id"] for s in listed.json()["items"]}
    url = f"/api/v1/suppressions/{first.json()['suppression_id']}"
    assert api_client.get(url, headers=h).status_code == 200
    assert api_client.delete(url, headers=h).status_code == 204
    assert api_client.delete(url, headers=h).status_code == 404
    bad = api_client.post(
        "/api/v1/suppressions", headers=h, json={"email": "x", "reason": "erasure"}
    )
    assert bad.status_code == 422
