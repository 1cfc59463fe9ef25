"""The scheduled refresh's dbt arguments: seeds already loaded are left out, changed ones not."""

from __future__ import annotations

from pathlib import Path

import pytest
from clickhouse_connect.driver.client import Client

from pipelines.lib.dbt.refresh import drop_unkeyed_tables, loaded_seeds, refresh_args

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
