"""Criteria definitions are validated on write with a 422 whose `loc` leads to the element."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from tests.murmur.conftest import MakeAccount, auth

pytestmark = pytest.mark.integration
DEMO = {"all": [{"field": "custom_fields.plan", "op": "eq", "value": "pro"}]}


def test_bad_definitions_are_refused_naming_the_path(
    api_client: TestClient, make_account: MakeAccount
) -> None:
    h = auth(make_account("editor")[1])
    junk = api_client.post(
        "/api/v1/segments", headers=h, json={"name": "j", "definition": {"a": 1}}
    )
    assert junk.status_code == 422
    assert junk.json()["detail"][0]["loc"] == ["body", "definition"]
    nested = {"any": [DEMO, {"all": [{"field": "email", "op": "like", "value": "%x"}]}]}
    bad_op = api_client.post(
        "/api/v1/segments", headers=h, json={"name": "o", "definition": nested}
    )
    assert bad_op.status_code == 422
    error = bad_op.json()["detail"][0]
    assert error["loc"] == ["body", "definition", "any", 1, "all", 0, "op"]
    assert error["msg"].startswith("definition.any[1].all[0].op: must be one of eq, neq")
    demo = api_client.post("/api/v1/segments", headers=h, json={"name": "d", "definition": DEMO})
    assert demo.status_code == 201, demo.text
    url = f"/api/v1/segments/{demo.json()['segment_id']}"
    patched = api_client.patch(url, headers=h, json={"definition": {"all": [{"op": "eq"}]}})
    assert patched.status_code == 422
    assert patched.json()["detail"][0]["loc"] == ["body", "definition", "all", 0, "field"]
    assert api_client.get(url, headers=h).json()["definition"] == DEMO


def test_a_stored_definition_from_before_validation_can_still_be_renamed(
    api_client: TestClient, make_account: MakeAccount, db_engine: sa.Engine
) -> None:
    account_id, key = make_account("editor")
    with db_engine.begin() as conn:
        segment_id = conn.execute(
            sa.text(
                "insert into segments (account_id, name, kind, definition)"
                " values (:a, 'old', 'criteria', '{\"plan\": \"pro\"}') returning segment_id"
            ),
            {"a": account_id},
        ).scalar()
    url = f"/api/v1/segments/{segment_id}"
    renamed = api_client.patch(url, headers=auth(key), json={"name": "renamed"})
    assert renamed.status_code == 200, renamed.text
    assert api_client.patch(url, headers=auth(key), json={"kind": "criteria"}).status_code == 422
