"""What the scheduled refresh leaves out of its `dbt build`, so its fixed cost stays small.

- Unit tests: they test the SQL, not the data; they run with the test suite (`dbt build` in
  tests/dbt) and in a full `dbt build`, not on every 5-minute refresh.
- Seeds already loaded: a seed whose ClickHouse table holds exactly its CSV is not loaded
  again (nor are its tests run again); a changed or missing one is.
"""

from __future__ import annotations

import csv
from pathlib import Path

from clickhouse_connect.driver.client import Client

SEEDS_DIR = Path(__file__).resolve().parents[3] / "dbt_project" / "seeds"
NO_UNIT_TESTS = ["--exclude-resource-type", "unit_test"]


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


def refresh_args(ch: Client, seeds_dir: Path = SEEDS_DIR) -> list[str]:
    """The extra `dbt build` arguments of a scheduled refresh (see the module docstring).

    Also drops the tables of keyed models built before they were keyed (drop_unkeyed_tables).
    """
    drop_unkeyed_tables(ch)
    seeds = loaded_seeds(ch, seeds_dir)
    return [*NO_UNIT_TESTS, *(["--exclude", " ".join(seeds)] if seeds else [])]


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
