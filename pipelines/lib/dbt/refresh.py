"""What the scheduled refresh leaves out of its `dbt build`, so its fixed cost stays small.

- Unit tests: they test the SQL, not the data; they run with the test suite (`dbt build` in
  tests/dbt) and in a full `dbt build`, not on every 5-minute refresh.
- Seeds already loaded: a seed whose ClickHouse table holds exactly its CSV is not loaded
  again (nor are its tests run again); a changed or missing one is.
- Views already built: a view model whose definition (SQL and config, from the manifest) is the
  one a successful run of this target dir built (`views.json`, written by `record_views`) and
  that exists in ClickHouse is not created again; its data tests still run (selected by
  name, since dbt would leave out the tests of a node it leaves out).
"""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path
from typing import Any

from clickhouse_connect.driver.client import Client

SEEDS_DIR = Path(__file__).resolve().parents[3] / "dbt_project" / "seeds"
NO_UNIT_TESTS = ["--exclude-resource-type", "unit_test"]
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
    nodes: dict[str, Any] = json.loads(manifest.read_text())["nodes"]
    out = {}
    for node in nodes.values():
        if node["resource_type"] == "model" and node["config"].get("materialized") == "view":
            text = node["checksum"]["checksum"] + json.dumps(node["config"], sort_keys=True)
            out[node["name"]] = hashlib.sha256(text.encode()).hexdigest()
    return out


def record_views(target: Path, manifest: Path) -> None:
    """After a successful run in `target`: remember the definitions of the views it built."""
    results = target / "run_results.json"
    if not results.exists():
        return
    built = {
        r["unique_id"].split(".")[-1]
        for r in json.loads(results.read_text())["results"]
        if r["unique_id"].startswith("model.") and r["status"] == "success"
    }
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
    seeds_dir: Path = SEEDS_DIR,
    target: Path | None = None,
    manifest: Path | None = None,
) -> list[str]:
    """The extra `dbt build` arguments of a scheduled refresh (see the module docstring).

    Views are left out only given the run's `target` dir and the project's `manifest`. Also
    drops the tables of keyed models built before they were keyed (drop_unkeyed_tables).
    """
    drop_unkeyed_tables(ch)
    skip = loaded_seeds(ch, seeds_dir)
    keep: list[str] = []
    if target is not None and manifest is not None:
        views = built_views(ch, target, manifest)
        skip += views
        keep = tests_of(manifest, views)
    return [
        *NO_UNIT_TESTS,
        *(["--exclude", " ".join(skip)] if skip else []),
        *(["--select", " ".join(keep)] if keep else []),
    ]


def tests_of(manifest: Path, models: list[str]) -> list[str]:
    """The names of the data tests on any of `models`."""
    nodes: dict[str, Any] = json.loads(manifest.read_text())["nodes"]
    ids = {f"model.{n['package_name']}.{n['name']}" for n in nodes.values() if n["name"] in models}
    return sorted(
        n["name"]
        for n in nodes.values()
        if n["resource_type"] == "test" and ids.intersection(n["depends_on"]["nodes"])
    )


# The models rebuilt per key (dbt_project/macros/refresh_keys.sql): a table of one of them built
# before they were (no `built_at`) cannot be refreshed incrementally and is built again.
KEYED_MODELS = ("int_email_sends__outcomes", "fct_email_sends")


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
