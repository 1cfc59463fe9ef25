"""The analytics refresh: replication then dbt, on the cron MURMUR_ANALYTICS_CRON (UTC).

The Great Expectations suites (pipelines/defs/checks) are asset checks of the replicated
contacts and the ingested events; they run in their own job, hourly, not in the refresh: GX
takes 10-35 s to import and each suite reads its whole table, which a 5-minute refresh must not
pay every time.
"""

import dagster as dg

from murmur.settings import get_settings
from pipelines.defs.checks.expectations import contacts_expectations, events_expectations
from pipelines.defs.dbt.partitions import daily_partitions
from pipelines.defs.replication.assets import GROUP as REPLICATION_GROUP
from pipelines.lib.dbt.translator import DAILY_GROUP, GROUP

EXPECTATIONS_CRON = "17 * * * *"  # hourly (UTC), off the refresh's minute marks
expectation_checks = dg.AssetSelection.checks(contacts_expectations, events_expectations)

refresh_job = dg.define_asset_job(
    "analytics_refresh",
    selection=dg.AssetSelection.groups(REPLICATION_GROUP, GROUP) - expectation_checks,
    description="Replicate Postgres into ClickHouse, then rebuild the dbt models and run tests.",
)
expectations_job = dg.define_asset_job(
    "analytics_expectations",
    selection=expectation_checks,
    description="The Great Expectations suites on contacts and events (asset checks).",
)
daily_job = dg.define_asset_job(
    "analytics_daily_refresh",
    selection=dg.AssetSelection.groups(DAILY_GROUP),
    partitions_def=daily_partitions,
    description="Rebuild today's partition of the daily (incremental) dbt models.",
)


def analytics_cron() -> str:
    """The refresh cron, read from the settings when the code location loads."""
    return get_settings().analytics_cron


def build_schedules(cron: str) -> list[dg.ScheduleDefinition]:
    @dg.schedule(cron_schedule=cron, job=daily_job, execution_timezone="UTC")
    def analytics_daily_schedule(
        context: dg.ScheduleEvaluationContext,
    ) -> dg.RunRequest:
        """Today's partition of the daily models, on the same cron as the refresh."""
        at = context.scheduled_execution_time
        partition = at.strftime("%Y-%m-%d")
        return dg.RunRequest(run_key=f"{partition}@{at.isoformat()}", partition_key=partition)

    refresh = dg.ScheduleDefinition(
        name="analytics_refresh_schedule",
        job=refresh_job,
        cron_schedule=cron,
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.RUNNING,
    )
    expectations = dg.ScheduleDefinition(
        name="analytics_expectations_schedule",
        job=expectations_job,
        cron_schedule=EXPECTATIONS_CRON,
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.RUNNING,
    )
    return [refresh, analytics_daily_schedule, expectations]


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(
        jobs=[refresh_job, daily_job, expectations_job],
        schedules=build_schedules(analytics_cron()),
    )
