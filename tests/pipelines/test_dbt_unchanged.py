"""`static` table models are built again exactly when their inputs, table or definition changed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client

from pipelines.lib.dbt.unchanged import (
    record_static_models,
    static_inputs,
    unchanged_static_models,
)

pytestmark = [pytest.mark.integration]

DIM = "model.p.dim_u"


def _model(name: str, materialized: str, *parents: str, tags: list[str] | None = None) -> Any:
    return {
        "resource_type": "model", "name": name, "alias": name, "tags": tags or [],
        "config": {"materialized": materialized}, "checksum": {"checksum": name},
        "depends_on": {"nodes": list(parents)},
    }  # fmt: skip


def _manifest(path: Path, dim_sql: str = "v1") -> Path:
    nodes = {
        "model.p.stg_u": _model("stg_u", "view", "source.p.raw.raw_u"),
        DIM: _model("dim_u", "table", "model.p.stg_u", "seed.p.seed_u", tags=["static"]),
        "model.p.fct_u": _model("fct_u", "table", "model.p.stg_u"),
        "model.p.agg_u": _model("agg_u", "table", "model.p.fct_u", tags=["static"]),
        "seed.p.seed_u": {
            "resource_type": "seed", "name": "seed_u", "alias": "seed_u",
            "config": {"materialized": "seed"}, "depends_on": {"nodes": []},
        },
        "test.p.unique_dim_u_id": {
            "resource_type": "test", "name": "unique_dim_u_id", "config": {"severity": "ERROR"},
            "checksum": {"checksum": "t"}, "depends_on": {"nodes": [DIM]},
        },
    }  # fmt: skip
    nodes[DIM]["checksum"]["checksum"] = dim_sql
    sources = {"source.p.raw.raw_u": {"name": "raw_u", "identifier": "raw_u"}}
    path.write_text(json.dumps({"nodes": nodes, "sources": sources}))
    return path


def _refresh(ch: Client, target: Path, manifest: Path) -> bool:
    """One refresh: True when it would build dim_u (and then "builds" and records it)."""
    skip = unchanged_static_models(ch, target, manifest)
    if DIM in skip:
        return False
    ch.command("truncate table dim_u")
    ch.command("insert into dim_u select id from raw_u")
    record_static_models(ch, target, manifest, {DIM})
    return True


def test_a_static_model_is_built_again_only_after_a_change(ch: Client, tmp_path: Path) -> None:
    manifest = _manifest(tmp_path / "manifest.json")
    for table in ("raw_u", "seed_u", "dim_u"):
        ch.command(f"create table {table} (id Int64) engine = MergeTree order by id")
    ch.command("create view stg_u as select id from raw_u")
    ch.insert("raw_u", [[1], [2]])
    # only models reading sources and seeds (through views) qualify, not agg_u
    assert static_inputs(json.loads(manifest.read_text())) == {DIM: ["raw_u", "seed_u"]}

    assert _refresh(ch, tmp_path, manifest)  # never recorded
    assert not _refresh(ch, tmp_path, manifest)  # nothing changed
    ch.insert("raw_u", [[3]])
    assert _refresh(ch, tmp_path, manifest)  # a new row in a source
    assert not _refresh(ch, tmp_path, manifest)
    ch.command("delete from raw_u where id = 1")
    assert _refresh(ch, tmp_path, manifest)  # a (lightweight) delete
    ch.insert("seed_u", [[7]])
    assert _refresh(ch, tmp_path, manifest)  # the seed's table
    ch.command("delete from dim_u where id = 2")
    assert _refresh(ch, tmp_path, manifest)  # its own table (e.g. a GDPR erasure)
    assert _refresh(ch, tmp_path, _manifest(tmp_path / "m2.json", "v2"))  # its SQL
    assert not _refresh(ch, tmp_path, _manifest(tmp_path / "m2.json", "v2"))
    ch.command("drop table raw_u sync")
    ch.command("create table raw_u (id Int64) engine = MergeTree order by id")
    ch.insert("raw_u", [[2], [3]])  # re-created: the same part names, another table
    assert _refresh(ch, tmp_path, _manifest(tmp_path / "m2.json", "v2"))


def test_a_failed_build_records_nothing(ch: Client, tmp_path: Path) -> None:
    manifest = _manifest(tmp_path / "manifest.json")
    for table in ("raw_u", "seed_u", "dim_u"):
        ch.command(f"create table if not exists {table} (id Int64) engine = MergeTree order by id")
    assert DIM not in unchanged_static_models(ch, tmp_path, manifest)
    record_static_models(ch, tmp_path, manifest, set())  # the run did not build it
    assert DIM not in unchanged_static_models(ch, tmp_path, manifest)
