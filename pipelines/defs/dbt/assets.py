"""The dbt models as Dagster assets: the daily-partitioned events fact, and everything else."""

from collections.abc import Iterator
from typing import Any

import dagster as dg
from dagster_dbt import DbtCliResource, DbtProject, dbt_assets

from murmur.analytics.dbt_profile import write_profiles_dir
from pipelines.defs.dbt.partitions import daily_partitions
from pipelines.defs.dbt.project import dbt_executable, dbt_project
from pipelines.lib.dbt.partitions import partition_window_vars, vars_args
from pipelines.lib.dbt.refresh import record_views, refresh_args
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
    """`dbt build` of the selected models in their stable, locked target dir (partial parsing).

    `extra`: more dbt arguments; `variables`: the `--vars`; `refresh`: the scheduled refresh's
    build, without unit tests and seeds already loaded (pipelines/lib/dbt/refresh.py).
    """
    settings = clickhouse.settings()
    profiles = write_profiles_dir(settings)
    with locked_target(settings, variables) as target:
        manifest = dbt_project().manifest_path
        if refresh:
            with clickhouse.get_client() as ch:
                extra = [*extra, *refresh_args(ch, target=target, manifest=manifest)]
        args = ["build", "--profiles-dir", str(profiles), *vars_args(variables or {}), *extra]
        yield from dbt.cli(args, context=context, target_path=target).stream()
        record_views(target, manifest)  # reached only when the build succeeded


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
