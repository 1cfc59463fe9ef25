"""`POST/PATCH /contacts` apply the import's rules: suppression → status, erased → refused;
lifting an erasure suppression deletes the tombstone so the address can come back."""

from __future__ import annotations

import hashlib
import uuid

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from murmur.domain.suppression import can_send
from tests.murmur.conftest import MakeAccount, auth

pytestmark = pytest.mark.integration


def _addr() -> str:
    return f"p-{uuid.uuid4().hex[:10]}@example.com"


def _erase(client: TestClient, h: dict[str, str], email: str) -> int:
    """Create a contact for `email`, erase it; the id of its `erasure` suppression."""
    contact = client.post("/api/v1/contacts", headers=h, json={"email": email}).json()
    assert client.post(f"/api/v1/contacts/{contact['contact_id']}/erase", headers=h).is_success
    listed = client.get("/api/v1/suppressions", headers=h, params={"reason": "erasure"}).json()
    key = "sha256:" + hashlib.sha256(email.encode()).hexdigest()
    return next(s["suppression_id"] for s in listed["items"] if s["email"] == key)


@pytest.mark.parametrize(
    ("reason", "status"),
    [
        ("bounce", "bounced"),
        ("complaint", "complained"),
        ("unsubscribe", "unsubscribed"),
        ("manual", "unsubscribed"),
    ],
)
def test_creating_a_contact_for_a_suppressed_address_takes_the_suppressions_status(
    api_client: TestClient,
    make_account: MakeAccount,
    db_engine: sa.Engine,
    reason: str,
    status: str,
) -> None:
    account_id, key = make_account("editor")
    h, email = auth(key), _addr()
    api_client.post("/api/v1/suppressions", headers=h, json={"email": email, "reason": reason})
    created = api_client.post("/api/v1/contacts", headers=h, json={"email": email.upper()})
    assert created.status_code == 201, created.text
    assert created.json()["status"] == status
    with db_engine.connect() as conn:
        assert can_send(conn, account_id, email)[0] is False


def test_creating_or_renaming_to_an_erased_address_is_refused_with_409(
    api_client: TestClient, make_account: MakeAccount, db_engine: sa.Engine
) -> None:
    account_id, key = make_account("admin")
    h, erased, other = auth(key), _addr(), _addr()
    _erase(api_client, h, erased)
    refused = api_client.post("/api/v1/contacts", headers=h, json={"email": f" {erased} "})
    assert refused.status_code == 409
    error = refused.json()["detail"][0]
    assert error["loc"] == ["body", "email"]
    assert "erased under GDPR; an admin must lift the erasure first" in error["msg"]
    contact = api_client.post("/api/v1/contacts", headers=h, json={"email": other}).json()
    url = f"/api/v1/contacts/{contact['contact_id']}"
    renamed = api_client.patch(url, headers=h, json={"email": erased})
    assert renamed.status_code == 409
    assert "erased under GDPR" in renamed.json()["detail"][0]["msg"]
    with db_engine.connect() as conn:
        stored = conn.execute(
            sa.text("select count(*) from contacts where account_id = :a and email = :e"),
            {"a": account_id, "e": erased},
        ).scalar()
    assert stored == 0
    assert api_client.get(url, headers=h).json()["email"] == other


def test_renaming_a_subscribed_contact_to_a_bounced_address_marks_it_bounced(
    api_client: TestClient, make_account: MakeAccount
) -> None:
    _, key = make_account("editor")
    h, bounced = auth(key), _addr()
    api_client.post("/api/v1/suppressions", headers=h, json={"email": bounced, "reason": "bounce"})
    contact = api_client.post("/api/v1/contacts", headers=h, json={"email": _addr()}).json()
    url = f"/api/v1/contacts/{contact['contact_id']}"
    renamed = api_client.patch(url, headers=h, json={"email": bounced})
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["status"] == "bounced"
    both = api_client.patch(url, headers=h, json={"email": _addr(), "status": "subscribed"})
    assert both.json()["status"] == "subscribed"  # a clean address may be resubscribed


def test_lifting_an_erasure_suppression_lets_the_address_be_added_and_imported_again(
    api_client: TestClient, make_account: MakeAccount, db_engine: sa.Engine
) -> None:
    account_id, admin_key = make_account("admin")
    _, editor_key = make_account("editor", account_id=account_id)
    h, by_post, by_import = auth(admin_key), _addr(), _addr()
    post_sup, import_sup = _erase(api_client, h, by_post), _erase(api_client, h, by_import)
    url = f"/api/v1/suppressions/{post_sup}"
    assert api_client.delete(url, headers=auth(editor_key)).status_code == 403
    assert api_client.delete(url, headers=h).status_code == 204
    assert api_client.delete(f"/api/v1/suppressions/{import_sup}", headers=h).status_code == 204
    assert api_client.get(url, headers=h).status_code == 404

    readded = api_client.post("/api/v1/contacts", headers=h, json={"email": by_post})
    assert readded.status_code == 201, readded.text
    assert readded.json()["status"] == "subscribed"
    data = f"email,first_name\n{by_import},Back\n".encode()
    job = api_client.post(
        "/api/v1/contacts/import", headers=h, files={"file": ("c.csv", data, "text/csv")}
    ).json()
    job = api_client.get(f"/api/v1/contacts/imports/{job['import_id']}", headers=h).json()
    assert (job["status"], job["inserted"], job["error_rows"]) == ("succeeded", 1, 0)
    with db_engine.connect() as conn:
        assert can_send(conn, account_id, by_post) == (True, "ok")
        assert can_send(conn, account_id, by_import) == (True, "ok")
        tombstones = conn.execute(
            sa.text("select count(*) from erasures where account_id = :a"), {"a": account_id}
        ).scalar()
        lifts = conn.execute(
            sa.text(
                "select details::text from audit_log where account_id = :a"
                " and action = 'erasure.lift' order by audit_id"
            ),
            {"a": account_id},
        ).scalars()
        lift_details = list(lifts)
    assert tombstones == 0
    assert len(lift_details) == 2
    assert all(by_post not in d and by_import not in d for d in lift_details)
    assert hashlib.sha256(by_post.encode()).hexdigest() in lift_details[0]
