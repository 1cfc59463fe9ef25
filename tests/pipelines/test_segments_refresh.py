"""`POST /api/v1/segments/{id}/refresh`: launches the segment's Dagster run and answers its id.

The slow test starts the stack's real `dagster` service (webserver + daemon on this project's
workspace, SQLite storage) and reads the launched runs back through its GraphQL API.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from murmur.api.app import create_app
from murmur.db.tables import segments
from murmur.net import free_port
from murmur.settings import get_settings
from murmur.stack.manager import Stack
from tests.murmur.conftest import MakeAccount, auth

pytestmark = pytest.mark.integration


def _client(url: str, tmp_path: Path, dagster_url: str | None) -> Iterator[TestClient]:
    settings = get_settings(postgres_url=url, state_dir=tmp_path, dagster_url=dagster_url)
    app = create_app(settings)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client
    app.state.engine.dispose()


def _segment(engine: sa.Engine, account_id: uuid.UUID, **values: Any) -> int:
    with engine.begin() as conn:
        return int(
            conn.execute(
                segments.insert()
                .values(account_id=account_id, name=f"s-{uuid.uuid4().hex[:6]}", **values)
                .returning(segments.c.segment_id)
            ).scalar_one()
        )


def _criteria(engine: sa.Engine, account_id: uuid.UUID) -> int:
    return _segment(engine, account_id, kind="criteria", definition={"all": []})


def test_without_a_reachable_dagster_the_refresh_is_a_503_saying_so(
    migrated_db_url: str, db_engine: sa.Engine, make_account: MakeAccount, tmp_path: Path
) -> None:
    account_id, key = make_account("editor")
    segment_id = _criteria(db_engine, account_id)
    dead = f"http://127.0.0.1:{free_port()}"
    for client in _client(migrated_db_url, tmp_path, dead):
        response = client.post(f"/api/v1/segments/{segment_id}/refresh", headers=auth(key))
        assert response.status_code == 503
        assert response.json()["detail"].startswith(f"Dagster cannot be reached at {dead}: ")
    for client in _client(migrated_db_url, tmp_path, None):  # no setting, no stack
        response = client.post(f"/api/v1/segments/{segment_id}/refresh", headers=auth(key))
        assert response.status_code == 503
        assert "Dagster is not configured: set MURMUR_DAGSTER_URL" in response.json()["detail"]


def test_refresh_needs_the_editor_role_and_a_segment_of_the_callers_account(
    migrated_db_url: str, db_engine: sa.Engine, make_account: MakeAccount, tmp_path: Path
) -> None:
    account_id, _ = make_account("editor")
    _, viewer = make_account("viewer", account_id=account_id)
    _, stranger = make_account("editor")
    segment_id = _criteria(db_engine, account_id)
    for client in _client(migrated_db_url, tmp_path, f"http://127.0.0.1:{free_port()}"):
        url = f"/api/v1/segments/{segment_id}/refresh"
        assert client.post(url, headers=auth(viewer)).status_code == 403
        assert client.post(url, headers=auth(stranger)).status_code == 404
        assert client.post(url).status_code == 401


def _run(dagster_url: str, run_id: str) -> dict[str, Any]:
    query = """query($id: ID!) { runOrError(runId: $id) { __typename
      ... on Run { jobName tags { key value } assetSelection { path } } } }"""
    body = httpx.post(
        f"{dagster_url}/graphql", json={"query": query, "variables": {"id": run_id}}, timeout=30
    ).json()
    run: dict[str, Any] = body["data"]["runOrError"]
    return run


@pytest.mark.slow
def test_refresh_launches_the_segments_run_on_a_real_dagster_webserver(
    migrated_db_url: str, db_engine: sa.Engine, make_account: MakeAccount, tmp_path: Path
) -> None:
    stack = Stack(tmp_path / "state", ["dagster"])
    try:
        [status] = stack.up()
        assert status.healthy, stack.logs("dagster")
        dagster_url = status.urls["dagster_url"]
        account_id, key = make_account("editor")
        criteria_id = _criteria(db_engine, account_id)
        dbt_id = _segment(db_engine, account_id, kind="dbt", dbt_model="engaged_last_30_days")
        unknown_id = _segment(db_engine, account_id, kind="dbt", dbt_model="not_a_model")
        for client in _client(migrated_db_url, tmp_path, dagster_url):
            criteria = client.post(f"/api/v1/segments/{criteria_id}/refresh", headers=auth(key))
            assert criteria.status_code == 202, criteria.text
            body = criteria.json()
            assert (body["job_name"], body["partition_key"]) == (
                "criteria_segments_job",
                str(criteria_id),
            )
            assert body["run_url"] == f"{dagster_url}/runs/{body['run_id']}"
            run = _run(dagster_url, body["run_id"])
            assert run["__typename"] == "Run" and run["jobName"] == "criteria_segments_job"
            tags = {t["key"]: t["value"] for t in run["tags"]}
            assert tags["dagster/partition"] == str(criteria_id)
            assert tags["murmur/segment_id"] == str(criteria_id)

            sql = client.post(f"/api/v1/segments/{dbt_id}/refresh", headers=auth(key))
            assert sql.status_code == 202, sql.text
            run = _run(dagster_url, sql.json()["run_id"])
            assert run["jobName"] == "segments_refresh"
            assert sorted(a["path"] for a in run["assetSelection"]) == [
                ["engaged_last_30_days"],
                ["segment_membership", "engaged_last_30_days"],
            ]

            unknown = client.post(f"/api/v1/segments/{unknown_id}/refresh", headers=auth(key))
            assert unknown.status_code == 409
            assert "not_a_model" in unknown.json()["detail"]
            assert "reload it" in unknown.json()["detail"]
    finally:
        stack.down()
