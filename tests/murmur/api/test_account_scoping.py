"""Statements filter by account themselves, not only through an earlier account-scoped check."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from murmur.db.tables import campaigns
from murmur.domain.campaigns import transition
from tests.murmur.conftest import MakeAccount, auth

pytestmark = pytest.mark.integration


def _foreign_campaign(
    engine: sa.Engine, account_id: uuid.UUID, template_id: int, segment_id: int
) -> int:
    """A campaign of `account_id` pointing at another account's template and segment (only
    possible through the database: the API checks references)."""
    with engine.begin() as conn:
        return int(
            conn.execute(
                campaigns.insert()
                .values(
                    account_id=account_id,
                    name="foreign",
                    subject="s",
                    template_id=template_id,
                    segment_id=segment_id,
                )
                .returning(campaigns.c.campaign_id)
            ).scalar_one()
        )


def test_a_delete_refused_for_a_reference_never_names_another_accounts_campaign(
    api_client: TestClient, make_account: MakeAccount, db_engine: sa.Engine
) -> None:
    _, key = make_account("editor")
    other, _ = make_account("editor")
    h = auth(key)
    template = api_client.post(
        "/api/v1/templates", headers=h, json={"name": "t", "subject": "s", "body_html": "b"}
    ).json()
    segment = api_client.post(
        "/api/v1/segments", headers=h, json={"name": "s", "definition": {"all": []}}
    ).json()
    foreign = _foreign_campaign(db_engine, other, template["template_id"], segment["segment_id"])
    for url in (
        f"/api/v1/templates/{template['template_id']}",
        f"/api/v1/segments/{segment['segment_id']}",
    ):
        deleted = api_client.delete(url, headers=h)  # the foreign key still refuses it
        assert deleted.status_code == 409
        assert f"campaign {foreign}" not in deleted.text, "names another account's campaign"


def test_a_campaign_transition_only_touches_the_callers_account(
    make_account: MakeAccount, db_engine: sa.Engine
) -> None:
    mine, _ = make_account("editor")
    other, _ = make_account("editor")
    with db_engine.begin() as conn:
        campaign_id = conn.execute(
            campaigns.insert()
            .values(account_id=other, name="c", subject="s")
            .returning(campaigns.c.campaign_id)
        ).scalar_one()
        assert transition(conn, mine, campaign_id, "cancelled") is None
        status = conn.execute(
            sa.select(campaigns.c.status).where(campaigns.c.campaign_id == campaign_id)
        ).scalar()
    assert status == "draft"
