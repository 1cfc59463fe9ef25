"""`POST /gdpr/erase` erases an address with or without its contact row (e.g. after DELETE)."""

from __future__ import annotations

import hashlib
import uuid

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from tests.murmur.conftest import MakeAccount, auth

pytestmark = pytest.mark.integration


def _held(conn: sa.Connection, account_id: uuid.UUID, email: str) -> dict[str, object]:
    """What the account still holds that quotes `email`, and its erasure markers."""
    digest = hashlib.sha256(email.encode()).hexdigest()
    params = {"a": account_id, "e": email, "k": f"sha256:{digest}", "d": digest}
    queries = {
        "contacts": "select count(*) from contacts where account_id = :a and email = :e",
        "suppressions": "select count(*) from suppressions where account_id = :a and email = :e",
        "import_errors": "select count(*) from import_errors x join import_jobs j using"
        " (import_id) where j.account_id = :a and x.value ilike '%' || :e || '%'",
        "ledger": "select count(*) from emails where account_id = :a"
        " and error ilike '%' || :e || '%'",
        "audit": "select count(*) from audit_log where account_id = :a"
        " and details::text ilike '%' || :e || '%'",
        "erasure": "select reason from suppressions where account_id = :a and email = :k",
        "tombstones": "select count(*) from erasures where account_id = :a and email_sha256 = :d",
        "erase_audits": "select count(*) from audit_log where account_id = :a"
        " and action = 'contact.erase'",
    }
    return {name: conn.execute(sa.text(sql), params).scalar() for name, sql in queries.items()}


def test_an_address_deleted_with_delete_contacts_can_still_be_erased_by_email(
    api_client: TestClient, make_account: MakeAccount, db_engine: sa.Engine
) -> None:
    account_id, key = make_account("admin")
    h, email = auth(key), "gone@example.com"
    data = f"email,first_name\n{email},A\nnot-an-email,B\n{email.upper()},C\n".encode()
    api_client.post(
        "/api/v1/contacts/import", headers=h, files={"file": ("c.csv", data, "text/csv")}
    )
    contact = api_client.get("/api/v1/contacts", headers=h, params={"email": email}).json()
    contact_id = contact["items"][0]["contact_id"]
    api_client.post("/api/v1/suppressions", headers=h, json={"email": email, "reason": "bounce"})
    campaign = api_client.post("/api/v1/campaigns", headers=h, json={"name": "c", "subject": "s"})
    with db_engine.begin() as conn:
        conn.execute(
            sa.text(
                "insert into emails (account_id, campaign_id, contact_id, status, error)"
                " values (:a, :c, :k, 'failed', :err)"
            ),
            {
                "a": account_id,
                "c": campaign.json()["campaign_id"],
                "k": contact_id,
                "err": f"550 mailbox {email} unknown",
            },
        )
    assert api_client.delete(f"/api/v1/contacts/{contact_id}", headers=h).status_code == 204
    by_id = api_client.post(f"/api/v1/contacts/{contact_id}/erase", headers=h)
    assert by_id.status_code == 404
    assert "POST /api/v1/gdpr/erase" in by_id.json()["detail"]
    with db_engine.connect() as conn:
        before = _held(conn, account_id, email)
    assert (before["suppressions"], before["import_errors"], before["ledger"]) == (1, 1, 1)

    erased = api_client.post("/api/v1/gdpr/erase", headers=h, json={"email": " Gone@Example.COM"})
    assert erased.status_code == 200, erased.text
    body = erased.json()
    assert body["contact_id"] is None
    assert body["email_sha256"] == hashlib.sha256(email.encode()).hexdigest()
    again = api_client.post("/api/v1/gdpr/erase", headers=h, json={"email": email})
    assert (again.status_code, again.json()) == (200, body)
    with db_engine.connect() as conn:
        after = _held(conn, account_id, email)
    assert after == {
        "contacts": 0,
        "suppressions": 0,
        "import_errors": 0,
        "ledger": 0,
        "audit": 0,
        "erasure": "erasure",
        "tombstones": 1,
        "erase_audits": 1,  # the repeat changed nothing, so it logged nothing
    }
    refused = api_client.post("/api/v1/contacts", headers=h, json={"email": email})
    assert refused.status_code == 409


def test_erasing_by_email_deletes_a_live_contact_and_repeats_answer_the_same(
    api_client: TestClient, make_account: MakeAccount, db_engine: sa.Engine
) -> None:
    account_id, key = make_account("admin")
    other_account, other_key = make_account("admin")
    h, email = auth(key), "live@example.com"
    contact = api_client.post("/api/v1/contacts", headers=h, json={"email": email}).json()
    theirs = api_client.post("/api/v1/contacts", headers=auth(other_key), json={"email": email})
    erased = api_client.post("/api/v1/gdpr/erase", headers=h, json={"email": email})
    assert erased.status_code == 200
    assert erased.json()["contact_id"] == contact["contact_id"]
    assert api_client.post("/api/v1/gdpr/erase", headers=h, json={"email": email}).json() == (
        erased.json()
    )
    by_id = api_client.post(f"/api/v1/contacts/{contact['contact_id']}/erase", headers=h)
    assert by_id.json() == erased.json()
    assert api_client.get(f"/api/v1/contacts/{contact['contact_id']}", headers=h).status_code == 404
    theirs_url = f"/api/v1/contacts/{theirs.json()['contact_id']}"
    assert api_client.get(theirs_url, headers=auth(other_key)).status_code == 200
    with db_engine.connect() as conn:
        assert _held(conn, other_account, email)["tombstones"] == 0
        assert _held(conn, account_id, email)["audit"] == 0


def test_erasing_an_address_never_seen_still_blocks_it_and_only_admins_may_erase(
    api_client: TestClient, make_account: MakeAccount
) -> None:
    account_id, key = make_account("admin")
    _, editor_key = make_account("editor", account_id=account_id)
    email = "never@example.com"
    denied = api_client.post("/api/v1/gdpr/erase", headers=auth(editor_key), json={"email": email})
    assert denied.status_code == 403
    bad = api_client.post("/api/v1/gdpr/erase", headers=auth(key), json={"email": "nope"})
    assert bad.status_code == 422
    erased = api_client.post("/api/v1/gdpr/erase", headers=auth(key), json={"email": email})
    assert (erased.status_code, erased.json()["contact_id"]) == (200, None)
    job = api_client.post(
        "/api/v1/contacts/import",
        headers=auth(key),
        files={"file": ("c.csv", f"email\n{email}\n".encode(), "text/csv")},
    ).json()
    job = api_client.get(f"/api/v1/contacts/imports/{job['import_id']}", headers=auth(key)).json()
    assert (job["inserted"], job["error_rows"]) == (0, 1)
