"""Pure parts of the segments domain: reading segment models from a manifest, the sensor's plan."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from murmur.domain.dbt_segments import (
    DbtSegmentModel,
    model_problem,
    segment_models,
)
from pipelines.defs.segments.sensors import MAX_STALE_PER_TICK, REFRESH_EVERY, plan_criteria_tick

CONTRACT_COLUMNS = {
    "account_id": {"name": "account_id", "data_type": "UUID"},
    "contact_id": {"name": "contact_id", "data_type": "Int64"},
}


def _node(model: str, **overrides: Any) -> dict[str, Any]:
    node: dict[str, Any] = {
        "resource_type": "model",
        "name": model,
        "alias": model,
        "tags": ["segment"],
        "original_file_path": f"models/segments/{model}.sql",
        "description": f"{model} described",
        "config": {"meta": {"account": "Acme", "owner": "ana@acme.io", "name": model.title()}},
        "columns": CONTRACT_COLUMNS,
    }
    node.update(overrides)
    return node


def test_segment_models_are_the_models_tagged_segment_with_their_meta() -> None:
    manifest = {
        "nodes": {
            "model.m.b_seg": _node("b_seg"),
            "model.m.a_seg": _node("a_seg", config={"meta": {"account": "x"}}),
            "model.m.dim_contacts": _node("dim_contacts", tags=[]),
            "test.m.not_null": _node("not_null", resource_type="test"),
        }
    }
    found = segment_models(manifest)
    assert [m.model for m in found] == ["a_seg", "b_seg"]
    a, b = found
    assert (a.name, a.owner, a.account) == ("a_seg", None, "x")  # name defaults to the model
    assert (b.name, b.owner, b.account, b.description) == (
        "B_Seg",
        "ana@acme.io",
        "Acme",
        "b_seg described",
    )
    assert dict(b.columns) == {"account_id": "UUID", "contact_id": "Int64"}
    assert model_problem(b) is None


def _model(**overrides: Any) -> DbtSegmentModel:
    [model] = segment_models({"nodes": {"n": _node("seg", **overrides)}})
    return model


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (
            {"columns": {}},
            "declare exactly the columns account_id UUID, contact_id Int64 (declared: nothing)",
        ),
        (
            {"columns": {**CONTRACT_COLUMNS, "email": {"name": "email", "data_type": "String"}}},
            "declared: account_id UUID, contact_id Int64, email String",
        ),
        (
            {"columns": {**CONTRACT_COLUMNS, "contact_id": {"name": "contact_id"}}},
            "contact_id (no data_type)",
        ),
        ({"config": {"meta": {}}}, "config.meta.account is missing"),
        ({"name": "bad-name", "alias": "bad-name"}, "letters, digits and underscores"),
        ({"alias": "other_table"}, "cannot set an alias (other_table)"),
    ],
)
def test_a_model_that_cannot_be_a_segment_is_named_with_the_reason(
    overrides: dict[str, Any], expected: str
) -> None:
    problem = model_problem(_model(**overrides))
    assert problem is not None
    assert problem.startswith("segment model ") and " (models/segments/seg.sql): " in problem
    assert expected in problem


NOW = dt.datetime(2026, 12, 1, 12, tzinfo=dt.UTC)


def test_the_sensor_plan_adds_new_removes_gone_and_runs_new_or_changed_segments() -> None:
    old = (NOW - dt.timedelta(minutes=5)).isoformat()
    versions = {"1": "v1", "2": "v2-changed", "3": "v3"}
    cursor = {"1": ["v1", old], "2": ["v2", old], "9": ["v9", old]}
    add, delete, requests, nxt = plan_criteria_tick(versions, {"1", "2", "9"}, cursor, NOW)
    assert (add, delete) == (["3"], ["9"])
    assert [(r.partition_key, r.run_key) for r in requests] == [
        ("2", "2@v2-changed"),
        ("3", "3@v3"),
    ]
    assert nxt == {
        "1": ["v1", old],
        "2": ["v2-changed", NOW.isoformat()],
        "3": ["v3", NOW.isoformat()],
    }
    # the next tick with the same state: nothing to do
    assert plan_criteria_tick(versions, {"1", "2", "3"}, nxt, NOW) == ([], [], [], nxt)


def test_the_sensor_plan_refreshes_the_stalest_segments_a_few_per_tick() -> None:
    stale_at = NOW - REFRESH_EVERY
    count = MAX_STALE_PER_TICK + 3
    versions = {str(i): "v" for i in range(1, count + 1)}
    cursor = {k: ["v", (stale_at - dt.timedelta(minutes=int(k))).isoformat()] for k in versions}
    _, _, requests, nxt = plan_criteria_tick(versions, set(versions), cursor, NOW)
    keys = [r.partition_key for r in requests]
    assert keys == [str(i) for i in range(count, 3, -1)]  # oldest first, at most the limit
    assert all(r.run_key == f"{r.partition_key}@v@{NOW.isoformat()}" for r in requests)
    assert nxt["1"] == cursor["1"] and nxt[str(count)] == ["v", NOW.isoformat()]
