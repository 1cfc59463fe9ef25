"""`/api/v1/esps`: CRUD, credentials encrypted at rest and never returned, validation, tenancy."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from murmur.crypto import CryptoError
from murmur.domain.esps import account_esps, unseal
from murmur.settings import Settings, get_settings
from tests.murmur.conftest import MakeAccount, auth

pytestmark = pytest.mark.integration
SECRET = "esp-test-secret-key-0123456789"
SMTP_URL = "smtp://relay-user:relay-pass-123@relay.example.net:2525"


@pytest.fixture(scope="module")
def api_settings(migrated_db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    state: Path = tmp_path_factory.mktemp("api-state")
    return get_settings(postgres_url=migrated_db_url, state_dir=state, secret_key=SECRET)


def _smtp(name: str = "relay", **extra: object) -> dict[str, object]:
    return {"name": name, "kind": "smtp", "credentials": {"url": SMTP_URL}, **extra}


def test_an_esp_is_created_listed_updated_and_deleted_and_its_credentials_never_leave(
    api_client: TestClient, make_account: MakeAccount, db_engine: sa.Engine
) -> None:
    account_id, key = make_account("admin")
    made = api_client.post(
        "/api/v1/esps",
        json=_smtp(priority=10, rate_limit=50, sending_domains=["News.Example.com"]),
        headers=auth(key),
    )
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["kind"] == "smtp" and body["priority"] == 10 and body["rate_limit"] == 50
    assert body["sending_domains"] == ["news.example.com"]
    assert body["has_credentials"] is True
    assert body["credentials_hint"] == "smtp://relay-user:***@relay.example.net:2525"
    assert "relay-pass-123" not in made.text and "credentials" not in body

    ses = api_client.post(
        "/api/v1/esps",
        json={
            "name": "ses-main",
            "kind": "ses",
            "priority": 20,
            "settings": {"region": "eu-west-1", "configuration_set": "murmur"},
            "credentials": {"access_key_id": "AKIAEXAMPLE1234", "secret_access_key": "s3cr3t!"},
        },
        headers=auth(key),
    )
    assert ses.status_code == 201, ses.text
    assert ses.json()["credentials_hint"] == "access key …1234" and "s3cr3t" not in ses.text

    listed = api_client.get("/api/v1/esps", headers=auth(key)).json()["items"]
    assert [e["name"] for e in listed] == ["relay", "ses-main"]
    assert all("s3cr3t" not in str(e) and "relay-pass" not in str(e) for e in listed)

    with db_engine.connect() as conn:
        stored = conn.execute(
            sa.text("select credentials_encrypted from esps where esp_id = :id"),
            {"id": body["esp_id"]},
        ).scalar_one()
        assert "relay-pass-123" not in stored  # ciphertext at rest
        assert unseal(SECRET, stored) == {"url": SMTP_URL}
        with pytest.raises(CryptoError):
            unseal("another-secret-key-of-16+", stored)
        order = account_esps(conn, account_id, "news.example.com", SECRET)
        other_domain = account_esps(conn, account_id, "other.example.org", SECRET)
    assert [a.label for a in order] == ["relay", "ses-main"]
    assert order[1].credentials["secret_access_key"] == "s3cr3t!"
    assert [a.label for a in other_domain] == ["ses-main"]  # relay serves news.example.com only

    patched = api_client.patch(
        f"/api/v1/esps/{body['esp_id']}",
        json={"priority": 30, "rate_limit": None, "enabled": False},
        headers=auth(key),
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["priority"] == 30 and patched.json()["rate_limit"] is None
    with db_engine.connect() as conn:
        assert [a.label for a in account_esps(conn, account_id, "news.example.com", SECRET)] == [
            "ses-main"
        ]
    gone = api_client.delete(f"/api/v1/esps/{body['esp_id']}", headers=auth(key))
    assert gone.status_code == 204
    assert api_client.get(f"/api/v1/esps/{body['esp_id']}", headers=auth(key)).status_code == 404


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"name": "Bad Name", "kind": "smtp", "credentials": {"url": SMTP_URL}}, "name"),
        ({"name": "x", "kind": "smtp"}, "credentials"),
        ({"name": "x", "kind": "smtp", "credentials": {"url": "http://h:1"}}, "credentials"),
        ({"name": "x", "kind": "ses", "settings": {"colour": "red"}}, "settings"),
        ({"name": "x", "kind": "ses", "credentials": {"access_key_id": "A"}}, "credentials"),
        ({"name": "x", "kind": "smtp", "credentials": {"url": SMTP_URL}, "rate_limit": 0}, None),
        ({"name": "x", "kind": "mailchimp"}, None),
        (
            {
                "name": "x",
                "kind": "smtp",
                "credentials": {"url": SMTP_URL},
                "sending_domains": ["not a domain"],
            },
            "sending_domains",
        ),
    ],
)
def test_bad_esp_input_is_a_422_naming_the_field_and_writes_nothing(
    api_client: TestClient,
    make_account: MakeAccount,
    payload: dict[str, object],
    field: str | None,
) -> None:
    _, key = make_account("admin")
    answer = api_client.post("/api/v1/esps", json=payload, headers=auth(key))
    assert answer.status_code == 422, answer.text
    if field is not None:
        assert field in answer.text
    assert api_client.get("/api/v1/esps", headers=auth(key)).json()["items"] == []


def test_names_are_unique_per_account_and_other_accounts_see_nothing(
    api_client: TestClient, make_account: MakeAccount
) -> None:
    account_id, key = make_account("admin")
    _, other = make_account("admin")
    first = api_client.post("/api/v1/esps", json=_smtp(), headers=auth(key))
    assert first.status_code == 201
    again = api_client.post("/api/v1/esps", json=_smtp(), headers=auth(key))
    assert again.status_code == 409 and "already exists" in again.text
    esp_id = first.json()["esp_id"]
    assert api_client.get(f"/api/v1/esps/{esp_id}", headers=auth(other)).status_code == 404
    assert api_client.get("/api/v1/esps", headers=auth(other)).json()["items"] == []
    assert api_client.delete(f"/api/v1/esps/{esp_id}", headers=auth(other)).status_code == 404
    _, viewer = make_account("viewer", account_id=account_id)
    assert api_client.get("/api/v1/esps", headers=auth(viewer)).status_code == 200
    denied = api_client.post("/api/v1/esps", json=_smtp("v"), headers=auth(viewer))
    assert denied.status_code == 403
    null_name = api_client.patch(f"/api/v1/esps/{esp_id}", json={"name": None}, headers=auth(key))
    assert null_name.status_code == 422 and "name" in null_name.text


def test_without_a_secret_key_credentials_are_refused_not_stored_in_clear(
    migrated_db_url: str, make_account: MakeAccount, tmp_path: Path
) -> None:
    from murmur.api.app import create_app

    app = create_app(get_settings(postgres_url=migrated_db_url, state_dir=tmp_path))
    _, key = make_account("admin")
    with TestClient(app) as client:
        answer = client.post("/api/v1/esps", json=_smtp(), headers=auth(key))
        assert answer.status_code == 422 and "MURMUR_SECRET_KEY" in answer.text
        assert client.get("/api/v1/esps", headers=auth(key)).json()["items"] == []
    app.state.engine.dispose()
