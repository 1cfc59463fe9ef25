"""What the scheduled refresh leaves out of its `dbt build`, so its fixed cost stays small.

The refresh names the dbt nodes to run one by one (`refresh_args`): those the Dagster step was
asked for, less

- unit tests: they test the SQL, not the data; they run with the test suite (`dbt build` in
  tests/dbt) and in a full `dbt build`, not on every 5-minute refresh;
- seeds already loaded: a seed whose ClickHouse table holds exactly its CSV is not loaded
  again, nor are its tests run again; a changed or missing one is;
- views already built: a view model whose definition (SQL and config, from the manifest) is the
  one a successful run of this target dir built (`views.json`, written by `record_views`) and
  that exists in ClickHouse is not created again; its selected data tests still run;
- `static` table models (the dims) whose inputs, table and definition are as their last build
  left them, with their tests (pipelines/lib/dbt/unchanged.py).

The data tests of sources, staging and intermediate models are not selected by the refresh job
at all: the hourly `analytics_dbt_checks` job runs them (`hourly_tests`).
"""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path
from typing import Any

from clickhouse_connect.driver.client import Client

from pipelines.lib.dbt.manifest import load_manifest
from pipelines.lib.dbt.unchanged import record_static_models, unchanged_static_models

SEEDS_DIR = Path(__file__).resolve().parents[3] / "dbt_project" / "seeds"
VIEWS_FILE = "views.json"


def _csv_rows(path: Path) -> tuple[list[str], list[tuple[str, ...]]]:
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    return rows[0], sorted(tuple(r) for r in rows[1:] if r)


def seed_is_loaded(ch: Client, path: Path) -> bool:
    """True when table `<seed name>` (in `ch`'s database) holds exactly the rows of the CSV."""
    name = path.stem
    exists = str(ch.command(f"exists table `{name}`")).strip() == "1"
    if not exists:
        return False
    header, expected = _csv_rows(path)
    columns = ", ".join(f"toString(`{c}`)" for c in header)
    try:
        rows = ch.query(f"select {columns} from `{name}`").result_rows
    except Exception:  # a column renamed or dropped: load it again
        return False
    return sorted(tuple(r) for r in rows) == expected


def loaded_seeds(ch: Client, seeds_dir: Path = SEEDS_DIR) -> list[str]:
    """The seeds of the project a refresh need not load again."""
    return sorted(p.stem for p in seeds_dir.glob("*.csv") if seed_is_loaded(ch, p))


def view_definitions(manifest: Path) -> dict[str, str]:
    """Per view model: a fingerprint of its SQL and config."""
    nodes: dict[str, Any] = load_manifest(manifest)["nodes"]
    out = {}
    for node in nodes.values():
        if node["resource_type"] == "model" and node["config"].get("materialized") == "view":
            text = node["checksum"]["checksum"] + json.dumps(node["config"], sort_keys=True)
            out[node["name"]] = hashlib.sha256(text.encode()).hexdigest()
    return out


def built_models(target: Path) -> set[str]:
    """The unique ids of the models the last run in `target` built (its run_results.json)."""
    results = target / "run_results.json"
    if not results.exists():
        return set()
    return {
        r["unique_id"]
        for r in json.loads(results.read_text())["results"]
        if r["unique_id"].startswith("model.") and r["status"] == "success"
    }


def record_build(ch: Client, target: Path, manifest: Path) -> None:
    """After a successful refresh: what it built, for the next one (views, static models)."""
    record_views(target, manifest)
    record_static_models(ch, target, manifest, built_models(target))


def record_views(target: Path, manifest: Path) -> None:
    """After a successful run in `target`: remember the definitions of the views it built."""
    built = {uid.split(".")[-1] for uid in built_models(target)}
    if not built:
        return
    current = view_definitions(manifest)
    state = target / VIEWS_FILE
    known: dict[str, str] = json.loads(state.read_text()) if state.exists() else {}
    known.update({name: fp for name, fp in current.items() if name in built})
    state.write_text(json.dumps(known, indent=1, sort_keys=True))


def built_views(ch: Client, target: Path, manifest: Path) -> list[str]:
    """The view models already built as they are now defined, and present in ClickHouse."""
    state = target / VIEWS_FILE
    if not state.exists():
        return []
    known = json.loads(state.read_text())
    current = view_definitions(manifest)
    present = {
        r[0]
        for r in ch.query(
            "select name from system.tables where database = currentDatabase() and engine = 'View'"
        ).result_rows
    }
    return sorted(n for n, fp in current.items() if known.get(n) == fp and n in present)


def refresh_args(
    ch: Client,
    selected: set[str],
    manifest: Path,
    target: Path | None = None,
    seeds_dir: Path = SEEDS_DIR,
) -> list[str]:
    """The `dbt build` selection of a scheduled refresh (see the module docstring).

    `selected`: the unique ids of the dbt nodes the Dagster step was asked for (its selected
    assets and checks, `selected_unique_ids`). They are named one by one, with indirect
    selection off, so a test runs exactly when its check was selected, whether or not dbt builds
    its model; seeds already loaded and (given the run's `target` dir) views already built are
    left out; unit tests never run here. Empty when nothing is left to run. Also drops the tables
    of keyed models built before they were keyed (drop_unkeyed_tables).
    """
    drop_unkeyed_tables(ch)
    nodes: dict[str, Any] = load_manifest(manifest)["nodes"]
    by_name = {(n["resource_type"], n["name"]): uid for uid, n in nodes.items()}
    loaded = {by_name[("seed", s)] for s in loaded_seeds(ch, seeds_dir) if ("seed", s) in by_name}
    views = built_views(ch, target, manifest) if target is not None else []
    static = unchanged_static_models(ch, target, manifest) if target is not None else set()
    skip = loaded | static | {by_name[("model", v)] for v in views}
    untested = loaded | static  # their tests would see the data they last saw

    def runs(uid: str) -> bool:
        node = nodes.get(uid)
        if node is None or node["resource_type"] == "unit_test" or uid in skip:
            return False
        return not (node["resource_type"] == "test" and untested & set(node["depends_on"]["nodes"]))

    run = sorted(".".join(nodes[uid]["fqn"]) for uid in selected if runs(uid))
    # dbt selects a selected model's unit tests whatever the indirect selection
    no_unit_tests = ["--exclude-resource-type", "unit_test"]
    return (
        ["--select", " ".join(run), "--indirect-selection", "empty", *no_unit_tests] if run else []
    )


def hourly_tests(manifest: Path) -> set[str]:
    """The data tests the refresh leaves to the hourly `analytics_dbt_checks` job.

    Those of sources, staging and intermediate models: they check what the replication and the
    consumer wrote and the views over it (each scans every event or ledger row again), not what
    a refresh built. The tests of the marts run on every refresh.
    """
    nodes: dict[str, Any] = load_manifest(manifest)["nodes"]
    upstream_layers = {"staging", "intermediate"}

    def upstream(uid: str) -> bool:
        if uid.startswith("source."):
            return True
        node = nodes.get(uid)
        return node is not None and len(node["fqn"]) > 1 and node["fqn"][1] in upstream_layers

    return {
        uid
        for uid, n in nodes.items()
        if n["resource_type"] == "test" and any(upstream(d) for d in n["depends_on"]["nodes"])
    }


# The models rebuilt per key (dbt_project/macros/refresh_keys.sql): a table of one of them built
# before they were (no `built_at`) cannot be refreshed incrementally and is built again.
KEYED_MODELS = (
    "int_email_sends__outcomes",
    "fct_email_sends",
    "campaign_performance_hourly",
    "deliverability_by_mailbox_provider",
    "contact_engagement",
)


def drop_unkeyed_tables(ch: Client, models: tuple[str, ...] = KEYED_MODELS) -> list[str]:
    """Drop the tables of `models` that lack the `built_at` column; the names dropped."""
    dropped = []
    for name in models:
        rows = ch.query(
            "select engine, countIf(c.name = 'built_at') from system.tables t"
            " left join system.columns c on c.database = t.database and c.table = t.name"
            " where t.database = currentDatabase() and t.name = {n:String} group by engine",
            parameters={"n": name},
        ).result_rows
        if rows and rows[0][0] != "View" and int(rows[0][1]) == 0:
            ch.command(f"drop table if exists `{name}` sync")
            dropped.append(name)
    return dropped
