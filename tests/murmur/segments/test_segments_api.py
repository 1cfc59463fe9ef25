"""The segments API on the real stack: refresh, size, members now and in the past, SQL, preview.

Contacts live in Postgres and reach ClickHouse through the real replication; a criteria segment
is refreshed by `refresh_criteria_segment` (what the Dagster asset calls) three times while its
contacts move in and out, and the API answers membership at each instant.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from clickhouse_connect.driver.client import Client
from fastapi.testclient import TestClient

from murmur.analytics.run import replicate_all
from murmur.analytics.tables import CONTACT_PII, CONTACTS
from murmur.db.tables import contacts, segments
from murmur.domain.segment_refresh import (
    SegmentRefreshError,
    refresh_criteria_segment,
    refresh_dbt_segment,
)
from tests.murmur.conftest import MakeAccount, auth
from tests.murmur.segments.marts import add_events, create_sources

pytestmark = pytest.mark.integration

T1 = dt.datetime(2026, 7, 1, 8, tzinfo=dt.UTC)
T2 = dt.datetime(2026, 7, 2, 8, tzinfo=dt.UTC)
T3 = dt.datetime(2026, 7, 3, 8, tzinfo=dt.UTC)
PRO = {"all": [{"field": "custom_fields.plan", "op": "eq", "value": "pro"}]}


def _set_plan(engine: sa.Engine, ids: dict[str, int], plans: dict[str, str]) -> None:
    with engine.begin() as conn:
        for name, plan in plans.items():
            conn.execute(
                contacts.update()
                .where(contacts.c.contact_id == ids[name])
                .values(custom_fields={"plan": plan}, updated_at=sa.func.now())
            )


@pytest.fixture(scope="module")
def account(
    make_account: MakeAccount, db_engine: sa.Engine, ch: Client
) -> tuple[uuid.UUID, str, dict[str, int]]:
    account_id, key = make_account("editor")
    with db_engine.begin() as conn:
        rows = conn.execute(
            contacts.insert().returning(contacts.c.first_name, contacts.c.contact_id),
            [
                {"account_id": account_id, "email": f"{n}@seg.test", "first_name": n}
                for n in ("ann", "bob", "cy")
            ],
        ).all()
    create_sources(ch)
    return account_id, key, {name: cid for name, cid in rows}


def _members(api: TestClient, key: str, segment_id: int, **params: Any) -> list[str]:
    names: list[str] = []
    after = None
    while True:
        query = {"limit": 2, **params, **({"after": after} if after else {})}
        page = api.get(f"/api/v1/segments/{segment_id}/members", headers=auth(key), params=query)
        assert page.status_code == 200, page.text
        body = page.json()
        names.extend(item["email"].split("@")[0] for item in body["items"])
        if body["next_after"] is None:
            return names
        after = body["next_after"]


def test_three_refreshes_answer_membership_now_and_at_each_past_instant(
    ch_api: TestClient,
    ch: Client,
    db_engine: sa.Engine,
    migrated_db_url: str,
    account: tuple[uuid.UUID, str, dict[str, int]],
    make_account: MakeAccount,
) -> None:
    _, key, ids = account
    created = ch_api.post(
        "/api/v1/segments",
        headers=auth(key),
        json={"name": "pro", "definition": PRO, "description": "paying", "owner": "ops"},
    )
    assert created.status_code == 201, created.text
    segment_id = created.json()["segment_id"]
    assert created.json()["size"] is None and created.json()["status"] == "active"

    results = []
    for at, plans in (
        (T1, {"ann": "pro", "bob": "pro", "cy": "free"}),
        (T2, {"ann": "free", "bob": "pro", "cy": "pro"}),
        (T3, {"ann": "pro", "bob": "free", "cy": "free"}),
    ):
        _set_plan(db_engine, ids, plans)
        replicate_all(migrated_db_url, ch, (CONTACTS, CONTACT_PII))
        results.append(refresh_criteria_segment(db_engine, ch, segment_id, at))

    assert [(r.size, r.added, r.removed) for r in results] == [(2, 2, 0), (2, 1, 1), (1, 1, 2)]
    got = ch_api.get(f"/api/v1/segments/{segment_id}", headers=auth(key)).json()
    assert got["size"] == 1
    assert dt.datetime.fromisoformat(got["last_computed_at"]) == T3
    assert _members(ch_api, key, segment_id) == ["ann"]
    assert _members(ch_api, key, segment_id, at=T1.isoformat()) == ["ann", "bob"]
    assert _members(ch_api, key, segment_id, at=(T2 + dt.timedelta(hours=3)).isoformat()) == [
        "bob",
        "cy",
    ]
    assert _members(ch_api, key, segment_id, at="2026-07-03T08:00:00Z") == ["ann"]
    assert _members(ch_api, key, segment_id, at="2026-06-01T00:00:00") == []
    # another account sees a 404, not the members
    _, other_key = make_account("viewer")
    url = f"/api/v1/segments/{segment_id}/members"
    assert ch_api.get(url, headers=auth(other_key)).status_code == 404


def test_the_sql_endpoint_shows_compiled_sql_with_bound_values_and_dbt_models(
    ch_api: TestClient, account: tuple[uuid.UUID, str, dict[str, int]]
) -> None:
    _, key, _ = account
    definition = {
        "all": [
            {"event": "opened", "within_days": 30},
            {"field": "custom_fields.plan", "op": "eq", "value": "pro"},
            {"not": {"event": "bounced"}},
        ]
    }
    seg = ch_api.post(
        "/api/v1/segments", headers=auth(key), json={"name": "s", "definition": definition}
    )
    shown = ch_api.get(f"/api/v1/segments/{seg.json()['segment_id']}/sql", headers=auth(key))
    assert shown.status_code == 200, shown.text
    body = shown.json()
    assert body["kind"] == "criteria"
    assert "'pro'" not in body["sql"] and "pro" in body["parameters"].values()
    # both event conditions are "any campaign": the ingest-time rollup answers them
    assert body["tables"] == ["contact_last_events", "raw_contacts"]
    dbt = ch_api.post(
        "/api/v1/segments",
        headers=auth(key),
        json={"name": "vip", "kind": "dbt", "dbt_model": "seg_vip_customers"},
    )
    shown = ch_api.get(f"/api/v1/segments/{dbt.json()['segment_id']}/sql", headers=auth(key))
    assert shown.json()["sql_path"] == "dbt_project/models/segments/seg_vip_customers.sql"
    assert shown.json()["dbt_model"] == "seg_vip_customers"
    again = ch_api.post(
        "/api/v1/segments",
        headers=auth(key),
        json={"name": "vip2", "kind": "dbt", "dbt_model": "seg_vip_customers"},
    )
    assert again.status_code == 409, again.text


def test_a_dbt_segment_gets_its_membership_from_its_model_table(
    ch: Client, db_engine: sa.Engine, account: tuple[uuid.UUID, str, dict[str, int]]
) -> None:
    account_id, _, ids = account
    ch.command(
        "create table seg_model_x (account_id UUID, contact_id Int64)"
        " engine = MergeTree order by contact_id"
    )
    ch.insert(
        "seg_model_x",
        [[account_id, ids["bob"]], [uuid.uuid4(), ids["ann"]]],
        column_names=["account_id", "contact_id"],
    )
    with db_engine.begin() as conn:
        segment_id = conn.execute(
            segments.insert()
            .values(account_id=account_id, name="x", kind="dbt", dbt_model="seg_model_x")
            .returning(segments.c.segment_id)
        ).scalar_one()
    result = refresh_dbt_segment(db_engine, ch, segment_id, T1)
    assert (result.size, result.added) == (1, 1)  # the other account's row is not a member
    with pytest.raises(SegmentRefreshError, match="not a criteria segment"):
        refresh_criteria_segment(db_engine, ch, segment_id, T1)


def test_preview_returns_the_size_and_a_bounded_sample_of_an_unsaved_definition(
    ch_api: TestClient,
    ch: Client,
    migrated_db_url: str,
    db_engine: sa.Engine,
    account: tuple[uuid.UUID, str, dict[str, int]],
) -> None:
    account_id, key, ids = account
    replicate_all(migrated_db_url, ch, (CONTACTS, CONTACT_PII))
    add_events(
        ch,
        account_id,
        [
            {"contact_id": ids[n], "email_record_id": i, "event_type": "open", "event_at": T1}
            for i, n in enumerate(("bob", "cy"))
        ],
    )
    definition = {
        "all": [{"event": "opened"}, {"field": "email", "op": "contains", "value": "@SEG"}]
    }
    shown = ch_api.post(
        "/api/v1/segments/preview", headers=auth(key), json={"definition": definition, "sample": 1}
    )
    assert shown.status_code == 200, shown.text
    assert shown.json()["size"] == 2
    assert shown.json()["sample"] == [{"contact_id": ids["bob"], "email": "bob@seg.test"}]
    too_many = ch_api.post(
        "/api/v1/segments/preview",
        headers=auth(key),
        json={"definition": definition, "sample": 101},
    )
    assert too_many.status_code == 422
    bad = ch_api.post(
        "/api/v1/segments/preview",
        headers=auth(key),
        json={"definition": {"all": [{"event": "opened", "within_days": 0}]}},
    )
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"] == ["body", "definition", "all", 0, "within_days"]
