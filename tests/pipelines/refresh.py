"""The analytics refresh in-process over test settings: replication, dbt, the daily partition."""

from __future__ import annotations

import datetime as dt
import shutil
from typing import Any

import dagster as dg
from dagster_dbt import DbtCliResource, DbtProject

from murmur.settings import Settings
from pipelines.defs.dbt.assets import build_dbt_assets
from pipelines.defs.dbt.project import dbt_project
from pipelines.defs.replication.assets import postgres_replication
from pipelines.lib.resources import ClickHouseResource, PostgresResource

NO_DBT = shutil.which("false") or "/bin/false"


def database_resources(settings: Settings) -> dict[str, Any]:
    """The ClickHouse and Postgres resources on the databases of `settings` (no dbt)."""
    return {
        "clickhouse": ClickHouseResource(
            url=settings.clickhouse_url,
            database=settings.clickhouse_database,
            state_dir=str(settings.state_dir),
        ),
        "postgres": PostgresResource(url=settings.postgres_url),
    }


def analytics_resources(
    settings: Settings, project: DbtProject | None = None, dbt_executable: str = NO_DBT
) -> dict[str, Any]:
    """The resources of the analytics assets on the databases of `settings`.

    dbt is `project` (the shipped project by default) with `dbt_executable` as its `dbt`.
    """
    # Regression: each dbt step started dbt three times (`dbt --version`, an adapter set-up,
    # the `dbt build` subprocess); the steps now run dbt in-process, and a `dbt` that can
    # only fail (the default) proves no step starts one
    project_dir = dbt_project() if project is None else project
    dbt = DbtCliResource(project_dir=project_dir, dbt_executable=dbt_executable)
    return {**database_resources(settings), "dbt": dbt}


def refresh(
    settings: Settings, instance: dg.DagsterInstance | None = None
) -> dg.ExecuteInProcessResult:
    """Replication and the unpartitioned dbt build (tests included); RuntimeError if it fails."""
    unpartitioned, _ = build_dbt_assets(dbt_project())
    result = dg.materialize(
        [postgres_replication, unpartitioned],
        resources=analytics_resources(settings),
        instance=instance,
    )
    if not result.success:
        raise RuntimeError("the analytics refresh failed")
    return result


def refresh_day(
    settings: Settings, day: dt.date, instance: dg.DagsterInstance | None = None
) -> None:
    """The daily dbt partition of `day`; RuntimeError if it fails."""
    _, daily = build_dbt_assets(dbt_project())
    result = dg.materialize(
        [daily],
        partition_key=day.isoformat(),
        resources=analytics_resources(settings),
        instance=instance,
    )
    if not result.success:
        raise RuntimeError("the daily refresh failed")
