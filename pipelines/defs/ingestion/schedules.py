"""Record the ingestion backlog on the analytics cron (MURMUR_ANALYTICS_CRON, UTC)."""

import dagster as dg

from pipelines.defs.analytics.schedules import analytics_cron
from pipelines.defs.ingestion.assets import GROUP

ingestion_status_job = dg.define_asset_job(
    "ingestion_status",
    selection=dg.AssetSelection.groups(GROUP),
    description="Record consumer lag, DLQ size and event counts; run the events expectations.",
)


@dg.definitions
def defs() -> dg.Definitions:
    schedule = dg.ScheduleDefinition(
        name="ingestion_status_schedule",
        job=ingestion_status_job,
        cron_schedule=analytics_cron(),
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.RUNNING,
    )
    return dg.Definitions(jobs=[ingestion_status_job], schedules=[schedule])
