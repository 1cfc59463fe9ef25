"""GDPR export and erasure through the API."""

from __future__ import annotations

import hashlib

import psycopg
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from murmur.domain.suppression import can_send
from tests.murmur.conftest import MakeAccount, auth

pytestmark = pytest.mark.integration


def test_export_returns_everything_held_about_a_contact(
    api_client: TestClient, make_account: MakeAccount, db_engine: sa.Engine
) -> None:
    account_id, key = make_account("admin")
    h = auth(key)
    contact = api_client.post(
        "/api/v1/contacts",
        headers=h,
        json={"email": "subject@example.com", "consent": {"source": "form"}},
    ).json()
    api_client.post("/api/v1/suppressions", headers=h, json={"email": "subject@example.com"})
    campaign = api_client.post("/api/v1/campaigns", headers=h, json={"name": "c", "subject": "s"})
    with db_engine.begin() as conn:
        conn.execute(
            sa.text(
                "insert into emails (account_id, campaign_id, contact_id, status)"
                " values (:a, :c, :k, 'queued')"
            ),
            {"a": account_id, "c": campaign.json()["campaign_id"], "k": contact["contact_id"]},
        )
    export = api_client.get(f"/api/v1/contacts/{contact['contact_id']}/export", headers=h)
    assert export.status_code == 200
    data = export.json()
    assert data["contact"]["email"] == "subject@example.com"
    assert [s["reason"] for s in data["suppressions"]] == ["manual"]
    assert [e["campaign_id"] for e in data["emails"]] == [campaign.json()["campaign_id"]]
    assert {"contact.create", "consent.granted"} <= {a["action"] for a in data["audit"]}
    assert api_client.get("/api/v1/contacts/999999/export", headers=h).status_code == 404


def test_erasure_removes_personal_data_keeps_a_tombstone_and_is_idempotent(
    api_client: TestClient, make_account: MakeAccount, db_engine: sa.Engine
) -> None:
    account_id, key = make_account("admin")
    h = auth(key)
    contact = api_client.post(
        "/api/v1/contacts", headers=h, json={"email": "Forget.Me@example.com"}
    ).json()
    api_client.post("/api/v1/suppressions", headers=h, json={"email": "forget.me@example.com"})
    url = f"/api/v1/contacts/{contact['contact_id']}"
    erased = api_client.post(f"{url}/erase", headers=h)
    assert erased.status_code == 200
    digest = hashlib.sha256(b"forget.me@example.com").hexdigest()
    assert erased.json()["email_sha256"] == digest
    assert api_client.post(f"{url}/erase", headers=h).json() == erased.json()
    assert api_client.get(url, headers=h).status_code == 404
    with db_engine.connect() as conn:
        held = conn.execute(
            sa.text("select count(*) from suppressions where email like '%forget.me%'")
        ).scalar()
        erasure = conn.execute(
            sa.text("select reason from suppressions where email = :e"), {"e": f"sha256:{digest}"}
        ).scalar()
        audit = conn.execute(
            sa.text(
                "select count(*) from audit_log where action = 'contact.erase' and account_id = :a"
            ),
            {"a": account_id},
        ).scalar()
        log_text = conn.execute(
            sa.text("select string_agg(details::text, ' ') from audit_log where account_id = :a"),
            {"a": account_id},
        ).scalar()
    assert (held, erasure, audit) == (0, "erasure", 1)
    assert "forget.me" not in (log_text or "")
    readded = api_client.post(
        "/api/v1/contacts", headers=h, json={"email": "forget.me@example.com"}
    )
    assert readded.status_code == 409
    assert "erased under GDPR" in readded.json()["detail"][0]["msg"]
    with db_engine.connect() as conn:
        assert can_send(conn, account_id, "forget.me@example.com")[0] is False
    assert api_client.post("/api/v1/contacts/123456789/erase", headers=h).status_code == 404


def test_erasure_also_removes_import_error_rows_that_quote_the_address(
    api_client: TestClient, make_account: MakeAccount, migrated_db_url: str
) -> None:
    _, key = make_account(role="admin")
    data = b"email,first_name\n Dup@Example.com ,A\nother@example.com,O\ndup@example.com,B\n"
    job = api_client.post(
        "/api/v1/contacts/import",
        files={"file": ("c.csv", data, "text/csv")},
        headers=auth(key),
    ).json()
    sql = "select count(*) from import_errors where import_id = %s and value ilike '%%dup@%%'"
    with psycopg.connect(migrated_db_url) as conn:
        before = conn.execute(sql, (job["import_id"],)).fetchone()
    assert before == (1,)  # row 2, replaced by row 4
    contact = api_client.get("/api/v1/contacts?email=dup@example.com", headers=auth(key))
    contact_id = contact.json()["items"][0]["contact_id"]
    export = api_client.get(f"/api/v1/contacts/{contact_id}/export", headers=auth(key)).json()
    assert [e["row_number"] for e in export["import_errors"]] == [2]
    assert api_client.post(f"/api/v1/contacts/{contact_id}/erase", headers=auth(key)).is_success
    with psycopg.connect(migrated_db_url) as conn:
        after = conn.execute(sql, (job["import_id"],)).fetchone()
    assert after == (0,)
