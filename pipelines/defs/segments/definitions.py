"""The segments domain, built from the dbt manifest when the code location loads.

Every SQL segment model gets its dbt asset and its `segment_membership/<model>` asset; the
`segments_refresh` job rebuilds them (on the analytics cron), `criteria_segments_job` computes
one criteria segment (partition). Loading also registers the SQL segments in Postgres when the
app database is reachable (the sync sensor does it again every minute), so a new file is a
targetable segment right after a reload.
"""

from __future__ import annotations

import dagster as dg
from dagster_dbt import DbtProject, get_asset_key_for_model

from murmur.domain.dbt_segments import CRITERIA_JOB, REFRESH_JOB, segment_models
from murmur.settings import get_settings
from pipelines.defs.dbt.project import dbt_project
from pipelines.defs.segments.assets import (
    CRITERIA_KEY,
    GROUP,
    build_membership_asset,
    build_segment_dbt_assets,
    criteria_segments,
)
from pipelines.defs.segments.sensors import (
    build_criteria_segments_sensor,
    build_dbt_segments_sync_sensor,
    build_membership_cleanup_sensor,
    sync_from_manifest,
)
from pipelines.lib.dbt.manifest import load_manifest


def build_segments_defs(project: DbtProject, cron: str) -> dg.Definitions:
    """The assets, jobs, schedule and sensors of the segments domain for `project`."""
    manifest = load_manifest(project.manifest_path)
    models = segment_models(manifest)
    criteria_job = dg.define_asset_job(
        CRITERIA_JOB,
        selection=dg.AssetSelection.assets(CRITERIA_KEY),
        description="Compute one criteria segment's membership (partition = segment id).",
    )
    assets: list[dg.AssetsDefinition] = [criteria_segments]
    jobs: list[dg.UnresolvedAssetJobDefinition] = [criteria_job]
    schedules: list[dg.ScheduleDefinition] = []
    if models:
        dbt_models = build_segment_dbt_assets(project, manifest)
        assets.append(dbt_models)
        assets += [
            build_membership_asset(m, get_asset_key_for_model([dbt_models], m.model))
            for m in models
        ]
        refresh = dg.define_asset_job(
            REFRESH_JOB,
            selection=dg.AssetSelection.groups(GROUP) - dg.AssetSelection.assets(CRITERIA_KEY),
            description="Rebuild the SQL segment models, then write their membership.",
        )
        jobs.append(refresh)
        schedules.append(
            dg.ScheduleDefinition(
                name="segments_refresh_schedule",
                job=refresh,
                cron_schedule=cron,
                execution_timezone="UTC",
                default_status=dg.DefaultScheduleStatus.RUNNING,
            )
        )
    return dg.Definitions(
        assets=assets,
        jobs=jobs,
        schedules=schedules,
        sensors=[
            build_criteria_segments_sensor(CRITERIA_JOB),
            build_dbt_segments_sync_sensor(models),
            build_membership_cleanup_sensor(),
        ],
    )


def sync_at_load(project: DbtProject) -> None:
    """Register the project's SQL segments now if the app database is reachable; never fails."""
    log = dg.get_dagster_logger()
    try:
        url = get_settings().resolved().postgres_url
        if not url:
            log.info("dbt segments not synced at load: no app database configured")
            return
        log.info(sync_from_manifest(url, project.manifest_path))
    except Exception as exc:  # the sync sensor retries every minute
        log.warning(f"dbt segments not synced at load ({type(exc).__name__}): {exc}")


@dg.definitions
def defs() -> dg.Definitions:
    project = dbt_project()
    sync_at_load(project)
    return build_segments_defs(project, get_settings().analytics_cron)
