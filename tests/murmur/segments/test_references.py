"""`member_of` references: they must exist in the account, never loop, and block deletion."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from murmur.domain.segment_graph import refresh_order
from tests.murmur.conftest import MakeAccount, auth

pytestmark = pytest.mark.integration
PRO = {"all": [{"field": "custom_fields.plan", "op": "eq", "value": "pro"}]}


def _member(segment_id: int) -> dict[str, object]:
    return {"all": [{"not": {"member_of": segment_id}}]}


def test_references_must_exist_in_the_account_and_never_loop(
    ch_api: TestClient, make_account: MakeAccount, db_engine: sa.Engine
) -> None:
    account_id, key = make_account("editor")
    h = auth(key)

    def create(definition: object) -> int:
        made = ch_api.post(
            "/api/v1/segments", headers=h, json={"name": "s", "definition": definition}
        )
        assert made.status_code == 201, made.text
        return int(made.json()["segment_id"])

    a = create(PRO)
    b = create(_member(a))
    c = create({"any": [{"member_of": b}, {"member_of": a}]})

    loop = ch_api.patch(
        f"/api/v1/segments/{a}", headers=h, json={"definition": {"all": [PRO, {"member_of": c}]}}
    )
    assert loop.status_code == 422
    error = loop.json()["detail"][0]
    assert error["loc"] == ["body", "definition", "all", 1, "member_of"]
    assert f"{a} → {c} → {b} → {a}" in error["msg"] or f"{a} → {c} → {a}" in error["msg"]

    itself = ch_api.patch(f"/api/v1/segments/{b}", headers=h, json={"definition": _member(b)})
    assert itself.status_code == 422
    assert itself.json()["detail"][0]["loc"] == ["body", "definition", "all", 0, "not", "member_of"]

    missing = ch_api.post(
        "/api/v1/segments", headers=h, json={"name": "m", "definition": _member(10**12)}
    )
    assert missing.status_code == 422
    assert "does not exist" in missing.json()["detail"][0]["msg"]

    _, other_key = make_account("editor")
    foreign = ch_api.post(
        "/api/v1/segments", headers=auth(other_key), json={"name": "f", "definition": _member(a)}
    )
    assert foreign.status_code == 422  # another account's segment does not exist here

    used = ch_api.delete(f"/api/v1/segments/{a}", headers=h)
    assert used.status_code == 409
    assert f"segment {b}" in used.text or f"segment {c}" in used.text

    with db_engine.connect() as conn:
        order = refresh_order(conn, account_id)
    assert order.index(a) < order.index(b) < order.index(c)

    retired = ch_api.patch(f"/api/v1/segments/{c}", headers=h, json={"status": "retired"})
    assert retired.status_code == 200 and retired.json()["status"] == "retired"
    to_retired = ch_api.post(
        "/api/v1/segments", headers=h, json={"name": "r", "definition": _member(c)}
    )
    assert to_retired.status_code == 422
    assert "retired" in to_retired.json()["detail"][0]["msg"]
