"""After an erasure the address is nowhere in the audit log, and it cannot come back raw."""

from __future__ import annotations

import io
import uuid

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from murmur.db.tables import audit_log, suppressions
from tests.murmur.conftest import MakeAccount, auth

pytestmark = pytest.mark.integration


def _audit_text(db_engine: sa.Engine, account_id: uuid.UUID) -> str:
    """Every audit row of the account, all columns, as one lower-cased text."""
    with db_engine.connect() as conn:
        rows = conn.execute(
            sa.select(
                audit_log.c.actor,
                audit_log.c.action,
                audit_log.c.object_type,
                audit_log.c.object_id,
                sa.cast(audit_log.c.details, sa.Text),
            ).where(audit_log.c.account_id == account_id)
        ).all()
    assert rows
    return "\n".join(" ".join(str(v) for v in row) for row in rows).lower()


# Regression: consent and suppression sources (and any detail copied from input) quoting the
# address kept it in the append-only audit log after its erasure (issue 8, item 4).
def test_after_an_erasure_no_audit_row_holds_the_address(
    api_client: TestClient, make_account: MakeAccount, db_engine: sa.Engine
) -> None:
    account_id, key = make_account("admin")
    h = auth(key)
    email = f"Quoted.Person-{uuid.uuid4().hex[:6]}@Example.com"
    low = email.lower()
    contact = api_client.post(
        "/api/v1/contacts",
        headers=h,
        json={"email": email, "consent": {"source": f"signup form of {email}"}},
    )
    assert contact.status_code == 201, contact.text
    contact_id = contact.json()["contact_id"]
    consent = api_client.post(
        f"/api/v1/contacts/{contact_id}/consent", headers=h, json={"source": f"mail from <{low}>"}
    )
    assert consent.status_code == 200, consent.text
    added = api_client.post(
        "/api/v1/suppressions",
        headers=h,
        json={"email": email, "reason": "manual", "source": f"ticket: {email} asked to stop"},
    )
    assert added.status_code == 201, added.text
    unsubscribed = api_client.post(
        f"/api/v1/contacts/{contact_id}/unsubscribe", headers=h, json={"source": f"reply {low}"}
    )
    assert unsubscribed.status_code == 200, unsubscribed.text
    upload = io.BytesIO(f"email,first_name\r\n{email},Q\r\n".encode())
    files = {"file": (f"list-for-{low}.csv", upload, "text/csv")}
    imported = api_client.post("/api/v1/contacts/import", headers=h, files=files)
    assert imported.status_code == 202, imported.text
    erased = api_client.post("/api/v1/gdpr/erase", headers=h, json={"email": email})
    assert erased.status_code == 200, erased.text
    text = _audit_text(db_engine, account_id)
    assert low not in text
    assert low.split("@")[0] + "@" not in text
    assert "sha256:" in text  # the sources are kept, with the address as its hash


# Regression: POST /suppressions stored the raw address again after its erasure (issue 8, item 4).
def test_suppressing_an_erased_address_is_refused_with_409(
    api_client: TestClient, make_account: MakeAccount, db_engine: sa.Engine
) -> None:
    account_id, key = make_account("admin")
    h = auth(key)
    email = f"gone-{uuid.uuid4().hex[:6]}@example.com"
    assert api_client.post("/api/v1/gdpr/erase", headers=h, json={"email": email}).is_success
    refused = api_client.post(
        "/api/v1/suppressions", headers=h, json={"email": email, "reason": "bounce"}
    )
    assert refused.status_code == 409, refused.text
    detail = refused.json()["detail"]
    assert detail[0]["loc"] == ["body", "email"]
    assert "erased" in detail[0]["msg"]
    with db_engine.connect() as conn:
        raw = conn.execute(
            sa.select(suppressions.c.suppression_id).where(
                suppressions.c.account_id == account_id, suppressions.c.email == email
            )
        ).all()
    assert raw == []


# Regression: a consent time far in the future was accepted (issue 8, item 8).
@pytest.mark.parametrize(
    ("path", "body", "loc"),
    [
        ("/contacts", {"consent": {"source": "form", "at": "2999-01-01T00:00:00Z"}}, "consent"),
        ("/contacts/{id}/consent", {"source": "form", "at": "2999-01-01T00:00:00+02:00"}, None),
    ],
)
def test_a_consent_time_in_the_future_is_refused_naming_the_field(
    api_client: TestClient,
    make_account: MakeAccount,
    path: str,
    body: dict[str, object],
    loc: str | None,
) -> None:
    _, key = make_account("editor")
    h = auth(key)
    email = f"c-{uuid.uuid4().hex[:6]}@example.com"
    if "{id}" in path:
        made = api_client.post("/api/v1/contacts", headers=h, json={"email": email})
        path = path.replace("{id}", str(made.json()["contact_id"]))
    else:
        body = {"email": email, **body}
    refused = api_client.post(f"/api/v1{path}", headers=h, json=body)
    assert refused.status_code == 422, refused.text
    [error] = refused.json()["detail"]
    assert error["loc"] == ["body", *([loc] if loc else []), "at"]
    assert "future" in error["msg"]


def test_a_consent_time_within_the_allowed_clock_skew_is_accepted(
    api_client: TestClient, make_account: MakeAccount
) -> None:
    from datetime import UTC, datetime, timedelta

    _, key = make_account("editor")
    soon = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    made = api_client.post(
        "/api/v1/contacts",
        headers=auth(key),
        json={
            "email": f"s-{uuid.uuid4().hex[:6]}@example.com",
            "consent": {"source": "f", "at": soon},
        },
    )
    assert made.status_code == 201, made.text
    assert made.json()["consent_at"] is not None
