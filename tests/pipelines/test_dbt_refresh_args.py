"""The scheduled refresh's dbt arguments: seeds and views already built are left out, changed
ones not."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from clickhouse_connect.driver.client import Client

from pipelines.lib.dbt.refresh import (
    built_views,
    drop_unkeyed_tables,
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
    assert loaded_seeds(ch, seeds) == []  # no table yet
    ch.command("create table providers_t (domain String, mailbox_provider String) engine = Memory")
    ch.insert("providers_t", [["yahoo.com", "Yahoo"], ["gmail.com", "Gmail"]])
    assert loaded_seeds(ch, seeds) == ["providers_t"]
    assert refresh_args(ch, seeds) == [
        "--exclude-resource-type", "unit_test", "--exclude", "providers_t",
    ]  # fmt: skip
    _seeds(tmp_path, "domain,mailbox_provider\ngmail.com,Gmail\nyahoo.com,Yahoo\naol.com,AOL\n")
    assert loaded_seeds(ch, seeds) == []  # a row added: load it again
    assert "--exclude" not in refresh_args(ch, seeds)


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


def _manifest(path: Path, view_sql_checksum: str) -> Path:
    nodes = {
        "model.p.view_t": {
            "resource_type": "model", "name": "view_t", "package_name": "p",
            "config": {"materialized": "view"}, "checksum": {"checksum": view_sql_checksum},
            "depends_on": {"nodes": []},
        },
        "model.p.table_t": {
            "resource_type": "model", "name": "table_t", "package_name": "p",
            "config": {"materialized": "table"}, "checksum": {"checksum": "t"},
            "depends_on": {"nodes": ["model.p.view_t"]},
        },
        "test.p.not_null_view_t_id": {
            "resource_type": "test", "name": "not_null_view_t_id", "package_name": "p",
            "config": {}, "checksum": {"checksum": ""},
            "depends_on": {"nodes": ["model.p.view_t"]},
        },
    }  # fmt: skip
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
    ch.command("create view view_t as select 1 as id")
    assert built_views(ch, target, manifest) == []  # no successful run recorded yet
    results = [{"unique_id": "model.p.view_t", "status": "success"}]
    (target / "run_results.json").write_text(json.dumps({"results": results}))
    record_views(target, manifest)
    assert built_views(ch, target, manifest) == ["view_t"]
    assert refresh_args(ch, seeds, target, manifest) == [
        "--exclude-resource-type", "unit_test", "--exclude", "view_t",
        "--select", "not_null_view_t_id",
    ]  # fmt: skip
    assert built_views(ch, target, _manifest(tmp_path / "m2.json", "v2")) == []  # SQL changed
    ch.command("drop view view_t")
    assert built_views(ch, target, manifest) == []  # gone from ClickHouse
