"""`GET /api/v1/campaigns/{id}`: the send ledger counters, `snapshot_at` and `status_reason`."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from murmur.db.tables import campaigns, contacts, emails
from tests.murmur.conftest import MakeAccount, auth

pytestmark = pytest.mark.integration

SNAPSHOT = dt.datetime(2026, 11, 30, 9, 30, tzinfo=dt.UTC)


def _ledger(
    engine: sa.Engine, account: uuid.UUID, campaign: int, rows: list[tuple[str, bool]]
) -> None:
    with engine.begin() as conn:
        for n, (status, duplicate) in enumerate(rows):
            contact = conn.execute(
                contacts.insert()
                .values(account_id=account, email=f"c{n}-{uuid.uuid4().hex[:6]}@example.com")
                .returning(contacts.c.contact_id)
            ).scalar_one()
            conn.execute(
                emails.insert().values(
                    account_id=account,
                    campaign_id=campaign,
                    contact_id=contact,
                    status=status,
                    possible_duplicate=duplicate,
                )
            )


def _campaign(client: TestClient, key: str) -> int:
    response = client.post(
        "/api/v1/campaigns", headers=auth(key), json={"name": "Launch", "subject": "Hi"}
    )
    assert response.status_code == 201, response.text
    return int(response.json()["campaign_id"])


def test_get_one_counts_the_ledger_by_state(
    api_client: TestClient, db_engine: sa.Engine, make_account: MakeAccount
) -> None:
    account, key = make_account("editor")
    _, viewer = make_account("viewer", account)
    campaign = _campaign(api_client, key)
    other = _campaign(api_client, key)
    rows = [
        ("queued", False),
        ("queued", False),
        ("queued", False),
        ("sending", False),
        ("sent", False),
        ("sent", True),
        ("sent", True),
        ("failed", False),
        ("skipped", False),
        ("skipped", False),
    ]
    _ledger(db_engine, account, campaign, rows)
    _ledger(db_engine, account, other, [("sent", True)])  # another campaign's rows don't count
    with db_engine.begin() as conn:
        conn.execute(
            campaigns.update()
            .where(campaigns.c.campaign_id == campaign)
            .values(snapshot_at=SNAPSHOT, status_reason="no DKIM key for example.com")
        )

    response = api_client.get(f"/api/v1/campaigns/{campaign}", headers=auth(viewer))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["counters"] == {
        "queued": 3,
        "sending": 1,
        "sent": 3,
        "failed": 1,
        "skipped": 2,
        "total": 10,
        "possible_duplicates": 2,
    }
    assert dt.datetime.fromisoformat(body["snapshot_at"]) == SNAPSHOT
    assert body["status_reason"] == "no DKIM key for example.com"


def test_a_campaign_without_ledger_rows_counts_zero(
    api_client: TestClient, make_account: MakeAccount
) -> None:
    _, key = make_account("editor")
    campaign = _campaign(api_client, key)
    body = api_client.get(f"/api/v1/campaigns/{campaign}", headers=auth(key)).json()
    assert body["snapshot_at"] is None
    assert set(body["counters"].values()) == {0}
    assert set(body["counters"]) == {
        "queued",
        "sending",
        "sent",
        "failed",
        "skipped",
        "total",
        "possible_duplicates",
    }


def test_another_accounts_campaign_is_still_a_404(
    api_client: TestClient, make_account: MakeAccount
) -> None:
    _, key = make_account("editor")
    campaign = _campaign(api_client, key)
    _, stranger = make_account("viewer")
    response = api_client.get(f"/api/v1/campaigns/{campaign}", headers=auth(stranger))
    assert response.status_code == 404
