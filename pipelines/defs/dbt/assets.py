"""The dbt models as Dagster assets: the daily-partitioned events fact, and everything else."""

from collections.abc import Iterator
from typing import Any

import dagster as dg
from dagster_dbt import DbtCliResource, DbtProject, dbt_assets

from murmur.analytics.dbt_profile import write_profiles_dir
from pipelines.defs.dbt.partitions import daily_partitions
from pipelines.defs.dbt.project import dbt_executable, dbt_project
from pipelines.lib.dbt.partitions import partition_window_vars, vars_args
from pipelines.lib.dbt.refresh import record_build, record_views, refresh_args
from pipelines.lib.dbt.runner import (
    DbtInvocation,
    asset_project,
    dagster_selection,
    dbt_args,
    import_dbt_in_background,
    selected_unique_ids,
    stream_asset_events,
)
from pipelines.lib.dbt.target import locked_target
from pipelines.lib.dbt.translator import DAILY_TAG, MurmurDbtTranslator
from pipelines.lib.resources import ClickHouseResource

DAILY_SELECTOR = f"tag:{DAILY_TAG}"
# SQL segments (models/segments/, tagged in dbt_project.yml): pipelines/defs/segments builds them
SEGMENT_SELECTOR = "tag:segment"
UNPARTITIONED_NAME = "analytics_dbt_models"
DAILY_NAME = "analytics_dbt_daily_models"


def _build(
    context: dg.AssetExecutionContext,
    dbt: DbtCliResource,
    clickhouse: ClickHouseResource,
    extra: list[str],
    variables: dict[str, str] | None = None,
    refresh: bool = False,
) -> Iterator[Any]:
    """`dbt build` of the selected nodes, in this process, in their stable locked target dir.

    In-process (pipelines/lib/dbt/runner.py): no `dbt` subprocess. The target dir keeps dbt's
    partial parse between runs. `extra`: more dbt arguments; `variables`: the `--vars`;
    `refresh`: the scheduled refresh's build, naming the nodes to run, without unit tests, seeds
    already loaded, views already built and `static` tables whose inputs did not change
    (pipelines/lib/dbt/refresh.py). `dbt` (the resource) is kept for the assets' signature:
    dbt runs the project the assets were built from.
    """
    del dbt
    importing = import_dbt_in_background()  # overlaps the look-ups below
    settings = clickhouse.settings()
    profiles = write_profiles_dir(settings)
    project = asset_project(context) or dbt_project()  # a test's copy of the project, say
    project_dir = project.project_dir
    with locked_target(settings, variables) as target:
        if refresh:
            with clickhouse.get_client() as ch:
                selection = refresh_args(
                    ch, selected_unique_ids(context), project.manifest_path, target
                )
            if not selection:
                context.log.info("dbt: nothing of the selection needs building again")
                importing.join()
                return
        else:
            selection, moved = dagster_selection(context)
            project_dir = moved or project_dir
        args = dbt_args(
            "build", *vars_args(variables or {}), *extra, *selection,
            project_dir=project_dir, profiles_dir=profiles, target=target,
        )  # fmt: skip
        invocation = DbtInvocation(
            args, results_path=target / "run_results.json", cache_dir=target.parent / "cache"
        )
        importing.join()  # one import of dbt's package graph at a time (no half-built module)
        yield from stream_asset_events(context, invocation, target)
        # reached only when the build succeeded
        if refresh:
            with clickhouse.get_client() as ch:
                record_build(ch, target, project.manifest_path)
        else:
            record_views(target, project.manifest_path)


def build_dbt_assets(project: DbtProject) -> list[dg.AssetsDefinition]:
    """Two `@dbt_assets`: the daily models (partitioned, windowed by --vars) and the rest."""
    translator = MurmurDbtTranslator()

    @dbt_assets(
        manifest=project.manifest_path,
        project=project,
        exclude=f"{DAILY_SELECTOR} {SEGMENT_SELECTOR}",
        dagster_dbt_translator=translator,
        name=UNPARTITIONED_NAME,
    )
    def analytics_dbt_models(
        context: dg.AssetExecutionContext, dbt: DbtCliResource, clickhouse: ClickHouseResource
    ) -> Iterator[Any]:
        """Staging, intermediate and mart models (tables rebuilt on every refresh)."""
        yield from _build(context, dbt, clickhouse, [], refresh=True)

    @dbt_assets(
        manifest=project.manifest_path,
        project=project,
        select=DAILY_SELECTOR,
        partitions_def=daily_partitions,
        dagster_dbt_translator=translator,
        name=DAILY_NAME,
    )
    def analytics_dbt_daily_models(
        context: dg.AssetExecutionContext, dbt: DbtCliResource, clickhouse: ClickHouseResource
    ) -> Iterator[Any]:
        """Incremental models rebuilt day by day (delete+insert of the partition window)."""
        window = context.partition_time_window
        variables = partition_window_vars(window.start, window.end)
        yield from _build(context, dbt, clickhouse, [], variables)

    return [analytics_dbt_models, analytics_dbt_daily_models]


@dg.definitions
def defs() -> dg.Definitions:
    project = dbt_project()
    return dg.Definitions(
        assets=build_dbt_assets(project),
        resources={"dbt": DbtCliResource(project_dir=project, dbt_executable=dbt_executable())},
    )
