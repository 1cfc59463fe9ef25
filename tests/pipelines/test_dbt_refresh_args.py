"""The scheduled refresh's dbt arguments: the selected nodes one by one, less the seeds and
views already built (changed ones not); the tests left to the hourly dbt checks job."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client

from pipelines.lib.dbt.refresh import (
    built_views,
    drop_unkeyed_tables,
    hourly_tests,
    loaded_seeds,
    record_views,
    refresh_args,
)

pytestmark = [pytest.mark.integration]


def _seeds(tmp_path: Path, text: str) -> Path:
    (tmp_path / "providers_t.csv").write_text(text)
    return tmp_path


def test_a_seed_whose_table_holds_its_csv_is_not_loaded_again(ch: Client, tmp_path: Path) -> None:
    seeds = _seeds(tmp_path, "domain,mailbox_provider\ngmail.com,Gmail\nyahoo.com,Yahoo\n")
    manifest = _manifest(tmp_path / "manifest.json", "v1")
    selected = {"seed.p.providers_t", "test.p.unique_providers_t_domain", "model.p.table_t"}
    assert loaded_seeds(ch, seeds) == []  # no table yet
    assert refresh_args(ch, selected, manifest, None, seeds) == [
        "--select", "p.marts.table_t p.providers_t p.unique_providers_t_domain",
        "--indirect-selection", "empty",
        "--exclude-resource-type", "unit_test",
    ]  # fmt: skip
    ch.command("create table providers_t (domain String, mailbox_provider String) engine = Memory")
    ch.insert("providers_t", [["yahoo.com", "Yahoo"], ["gmail.com", "Gmail"]])
    assert loaded_seeds(ch, seeds) == ["providers_t"]
    # neither the seed nor its tests run again
    assert refresh_args(ch, selected, manifest, None, seeds) == [
        "--select", "p.marts.table_t", "--indirect-selection", "empty",
        "--exclude-resource-type", "unit_test",
    ]  # fmt: skip
    _seeds(tmp_path, "domain,mailbox_provider\ngmail.com,Gmail\nyahoo.com,Yahoo\naol.com,AOL\n")
    assert loaded_seeds(ch, seeds) == []  # a row added: load it again
    assert "p.providers_t" in refresh_args(ch, selected, manifest, None, seeds)[1]


def test_a_keyed_model_built_before_it_was_keyed_is_dropped_to_be_built_again(
    ch: Client,
) -> None:
    ch.command("create table keyed_old (email_record_id Int64) engine = MergeTree order by tuple()")
    ch.command(
        "create table keyed_new (email_record_id Int64, built_at DateTime64(6))"
        " engine = MergeTree order by tuple()"
    )
    ch.command("create view keyed_view as select 1 as email_record_id")
    assert drop_unkeyed_tables(ch, ("keyed_old", "keyed_new", "keyed_view", "absent")) == [
        "keyed_old"
    ]
    assert str(ch.command("exists table keyed_new")).strip() == "1"
    assert str(ch.command("exists table keyed_old")).strip() == "0"


def _node(kind: str, name: str, fqn: list[str], *parents: str, checksum: str = "") -> Any:
    materialized = {"model": "table", "seed": "seed"}.get(kind, "test")
    return {
        "resource_type": kind, "name": name, "package_name": "p", "fqn": fqn,
        "config": {"materialized": materialized}, "checksum": {"checksum": checksum},
        "depends_on": {"nodes": list(parents)},
    }  # fmt: skip


def _manifest(path: Path, view_sql_checksum: str) -> Path:
    nodes = {
        "model.p.view_t": _node("model", "view_t", ["p", "staging", "view_t"]),
        "model.p.table_t": _node("model", "table_t", ["p", "marts", "table_t"], "model.p.view_t"),
        "seed.p.providers_t": _node("seed", "providers_t", ["p", "providers_t"]),
        "test.p.not_null_view_t_id": _node(
            "test", "not_null_view_t_id", ["p", "staging", "not_null_view_t_id"], "model.p.view_t"
        ),
        "test.p.unique_table_t_id": _node(
            "test", "unique_table_t_id", ["p", "marts", "unique_table_t_id"], "model.p.table_t"
        ),
        "test.p.unique_providers_t_domain": _node(
            "test", "unique_providers_t_domain", ["p", "unique_providers_t_domain"],
            "seed.p.providers_t",
        ),
        "test.p.not_null_raw_t_id": _node(
            "test", "not_null_raw_t_id", ["p", "staging", "not_null_raw_t_id"], "source.p.raw.t"
        ),
        "unit_test.p.table_t.logic": _node("unit_test", "logic", ["p", "marts", "logic"]),
    }  # fmt: skip
    nodes["model.p.view_t"]["config"]["materialized"] = "view"
    nodes["model.p.view_t"]["checksum"]["checksum"] = view_sql_checksum
    path.write_text(json.dumps({"nodes": nodes}))
    return path


def test_a_view_built_as_defined_is_not_created_again_but_its_tests_run(
    ch: Client, tmp_path: Path
) -> None:
    target = tmp_path / "target"
    target.mkdir()
    manifest = _manifest(tmp_path / "manifest.json", "v1")
    seeds = tmp_path / "no-seeds"
    seeds.mkdir()
    selected = {
        "model.p.view_t", "model.p.table_t", "test.p.not_null_view_t_id",
        "unit_test.p.table_t.logic",
    }  # fmt: skip
    ch.command("create view view_t as select 1 as id")
    assert built_views(ch, target, manifest) == []  # no successful run recorded yet
    results = [{"unique_id": "model.p.view_t", "status": "success"}]
    (target / "run_results.json").write_text(json.dumps({"results": results}))
    record_views(target, manifest)
    assert built_views(ch, target, manifest) == ["view_t"]
    # named one by one, indirect selection off: the view's selected test runs, no unit test
    assert refresh_args(ch, selected, manifest, target, seeds) == [
        "--select", "p.marts.table_t p.staging.not_null_view_t_id",
        "--indirect-selection", "empty",
        "--exclude-resource-type", "unit_test",
    ]  # fmt: skip
    assert refresh_args(ch, {"model.p.view_t"}, manifest, target, seeds) == []  # nothing to do
    assert built_views(ch, target, _manifest(tmp_path / "m2.json", "v2")) == []  # SQL changed
    ch.command("drop view view_t")
    assert built_views(ch, target, manifest) == []  # gone from ClickHouse


def test_the_tests_of_sources_staging_and_intermediate_models_are_hourly(tmp_path: Path) -> None:
    manifest = _manifest(tmp_path / "manifest.json", "v1")
    assert hourly_tests(manifest) == {"test.p.not_null_view_t_id", "test.p.not_null_raw_t_id"}
