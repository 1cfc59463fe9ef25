from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.murmur.conftest import MakeAccount, auth

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def h(make_account: MakeAccount) -> dict[str, str]:
    return auth(make_account("editor")[1])


def _create(client: TestClient, h: dict[str, str], **body: Any) -> Any:
    response = client.post("/api/v1/contacts", headers=h, json=body)
    assert response.status_code == 201, response.text
    return response.json()


def test_a_contact_is_created_with_a_normalized_email_and_its_consent(
    api_client: TestClient, h: dict[str, str]
) -> None:
    contact = _create(
        api_client,
        h,
        email="  Ada@Example.COM ",
        first_name="Ada",
        custom_fields={"plan": "pro"},
        consent={"source": "signup form", "ip": "203.0.113.9"},
    )
    assert contact["email"] == "ada@example.com"
    assert contact["status"] == "subscribed"
    assert contact["custom_fields"] == {"plan": "pro"}
    assert (contact["consent_source"], contact["consent_ip"]) == ("signup form", "203.0.113.9")
    assert contact["consent_at"] is not None


def test_a_duplicate_or_invalid_email_is_rejected_naming_the_field(
    api_client: TestClient, h: dict[str, str]
) -> None:
    _create(api_client, h, email="dup@example.com")
    dup = api_client.post("/api/v1/contacts", headers=h, json={"email": "DUP@example.com"})
    assert dup.status_code == 409
    assert dup.json()["detail"][0]["loc"] == ["body", "email"]
    bad = api_client.post("/api/v1/contacts", headers=h, json={"email": "not-an-email"})
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"] == ["body", "email"]
    nul = api_client.post(
        "/api/v1/contacts", headers=h, json={"email": "n@x.io", "first_name": "\x00"}
    )
    assert nul.status_code == 422
    extra = api_client.post("/api/v1/contacts", headers=h, json={"email": "e@x.io", "nope": 1})
    assert extra.status_code == 422


def test_contacts_are_listed_with_filters_and_keyset_pagination(
    api_client: TestClient, make_account: MakeAccount
) -> None:
    h = auth(make_account("editor")[1])
    ids = [_create(api_client, h, email=f"p{i}@example.com")["contact_id"] for i in range(5)]
    api_client.patch(f"/api/v1/contacts/{ids[0]}", headers=h, json={"status": "unsubscribed"})
    first = api_client.get("/api/v1/contacts", headers=h, params={"limit": 2}).json()
    assert [c["contact_id"] for c in first["items"]] == ids[:2]
    second = api_client.get(
        "/api/v1/contacts", headers=h, params={"limit": 2, "after": first["next_after"]}
    ).json()
    assert [c["contact_id"] for c in second["items"]] == ids[2:4]
    by_offset = api_client.get("/api/v1/contacts", headers=h, params={"offset": 4}).json()
    assert [c["contact_id"] for c in by_offset["items"]] == ids[4:]
    assert by_offset["next_after"] is None
    unsub = api_client.get("/api/v1/contacts", headers=h, params={"status": "unsubscribed"})
    assert [c["contact_id"] for c in unsub.json()["items"]] == [ids[0]]
    by_email = api_client.get("/api/v1/contacts", headers=h, params={"email": "P3@Example.com"})
    assert [c["contact_id"] for c in by_email.json()["items"]] == [ids[3]]
    assert api_client.get("/api/v1/contacts", headers=h, params={"limit": 501}).status_code == 422
    assert api_client.get("/api/v1/contacts", headers=h, params={"status": "x"}).status_code == 422


def test_a_contact_is_updated_and_deleted(api_client: TestClient, h: dict[str, str]) -> None:
    contact = _create(api_client, h, email="upd@example.com", first_name="Old")
    url = f"/api/v1/contacts/{contact['contact_id']}"
    patched = api_client.patch(
        url, headers=h, json={"first_name": "New", "email": "U2@example.com"}
    )
    assert patched.status_code == 200
    assert (patched.json()["first_name"], patched.json()["email"]) == ("New", "u2@example.com")
    assert api_client.patch(url, headers=h, json={"email": None}).status_code == 422
    assert api_client.get(url, headers=h).json()["first_name"] == "New"
    assert api_client.delete(url, headers=h).status_code == 204
    assert api_client.get(url, headers=h).status_code == 404
    assert api_client.delete(url, headers=h).status_code == 404
    assert api_client.patch(url, headers=h, json={}).status_code == 404


def test_a_status_change_suppresses_and_resubscribing_a_suppressed_address_is_refused(
    api_client: TestClient, h: dict[str, str]
) -> None:
    contact = _create(api_client, h, email="bye@example.com")
    url = f"/api/v1/contacts/{contact['contact_id']}"
    assert (
        api_client.patch(url, headers=h, json={"status": "bounced"}).json()["status"] == "bounced"
    )
    listed = api_client.get("/api/v1/suppressions", headers=h, params={"email": "bye@example.com"})
    (suppression,) = listed.json()["items"]
    assert suppression["reason"] == "bounce"
    refused = api_client.patch(url, headers=h, json={"status": "subscribed"})
    assert refused.status_code == 409
    api_client.delete(f"/api/v1/suppressions/{suppression['suppression_id']}", headers=h)
    again = api_client.patch(url, headers=h, json={"status": "subscribed"})
    assert again.json()["status"] == "subscribed"


def test_consent_is_recorded_and_withdrawn_through_the_contact(
    api_client: TestClient, h: dict[str, str]
) -> None:
    contact = _create(api_client, h, email="consent@example.com")
    url = f"/api/v1/contacts/{contact['contact_id']}"
    granted = api_client.post(
        f"{url}/consent", headers=h, json={"source": "double opt-in", "ip": "2001:db8::1"}
    )
    assert granted.status_code == 200
    assert granted.json()["consent_ip"] == "2001:db8::1"
    assert api_client.post(f"{url}/consent", headers=h, json={"ip": "1.2.3.4"}).status_code == 422
    bad_ip = api_client.post(f"{url}/consent", headers=h, json={"source": "x", "ip": "999.1.1.1"})
    assert bad_ip.status_code == 422
    gone = api_client.post(f"{url}/unsubscribe", headers=h, json={"source": "link"})
    assert gone.json()["status"] == "unsubscribed"
