"""The analytics refresh: replication then dbt, on the cron MURMUR_ANALYTICS_CRON (UTC).

Checks that need not run every 5 minutes have hourly jobs of their own (crons
MURMUR_ANALYTICS_EXPECTATIONS_CRON and MURMUR_ANALYTICS_DBT_CHECKS_CRON):

- `analytics_expectations`: the Great Expectations suites (pipelines/defs/checks) on the
  replicated contacts and the ingested events; GX takes 10-35 s to import and each suite reads
  its whole table;
- `analytics_dbt_checks`: the dbt data tests of sources, staging and intermediate models
  (pipelines/lib/dbt/refresh.py `hourly_tests`): they test what the replication and the consumer
  wrote, not what the refresh built, and each scans every event or ledger row again. The tests
  of the marts stay in the refresh; a full `dbt build` runs them all.

The jobs run their steps in one process (in-process executor): a step process per step would
import the whole code location again for a run whose work takes seconds.
"""

import datetime as dt
from functools import cache

import dagster as dg
from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

from murmur.settings import get_settings
from pipelines.defs.checks.expectations import contacts_expectations, events_expectations
from pipelines.defs.dbt.partitions import daily_partitions
from pipelines.defs.dbt.project import dbt_project
from pipelines.defs.replication.assets import GROUP as REPLICATION_GROUP
from pipelines.lib.dbt.manifest import load_manifest
from pipelines.lib.dbt.refresh import hourly_tests
from pipelines.lib.dbt.translator import DAILY_GROUP, GROUP, check_keys

# daily, just after midnight (UTC): yesterday's partition, the newest one (a day's partition
# exists once the day is over)
DAILY_CRON = "10 0 * * *"
expectation_checks = dg.AssetSelection.checks(contacts_expectations, events_expectations)


@cache
def hourly_dbt_checks() -> dg.AssetSelection:
    """The asset checks of the dbt tests the refresh leaves to `analytics_dbt_checks`."""
    manifest_path = dbt_project().manifest_path
    manifest = load_manifest(manifest_path)
    return dg.AssetSelection.checks(*check_keys(manifest, hourly_tests(manifest_path)))


def refresh_selection() -> dg.AssetSelection:
    """What `analytics_refresh` runs: replication, the dbt models and the marts' tests."""
    groups = dg.AssetSelection.groups(REPLICATION_GROUP, GROUP)
    return groups - expectation_checks - hourly_dbt_checks()


def analytics_jobs() -> dict[str, UnresolvedAssetJobDefinition]:
    return {
        "refresh": dg.define_asset_job(
            "analytics_refresh",
            selection=refresh_selection(),
            executor_def=dg.in_process_executor,
            description="Replicate Postgres into ClickHouse, then rebuild the dbt models and"
            " run the marts' tests.",
        ),
        "expectations": dg.define_asset_job(
            "analytics_expectations",
            selection=expectation_checks,
            executor_def=dg.in_process_executor,
            description="The Great Expectations suites on contacts and events (asset checks).",
        ),
        "dbt_checks": dg.define_asset_job(
            "analytics_dbt_checks",
            selection=hourly_dbt_checks(),
            executor_def=dg.in_process_executor,
            description="The dbt tests of sources, staging and intermediate models.",
        ),
        "daily": dg.define_asset_job(
            "analytics_daily_refresh",
            selection=dg.AssetSelection.groups(DAILY_GROUP),
            partitions_def=daily_partitions,
            description="Rebuild a day's partition of the daily (incremental) dbt models.",
        ),
    }


def analytics_cron() -> str:
    """The refresh cron, read from the settings when the code location loads."""
    return get_settings().analytics_cron


def _running(job: UnresolvedAssetJobDefinition, cron: str) -> dg.ScheduleDefinition:
    """`<job>_schedule`: `job` on `cron` (UTC), running from the start."""
    return dg.ScheduleDefinition(
        name=f"{job.name}_schedule",
        job=job,
        cron_schedule=cron,
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.RUNNING,
    )


def yesterdays_partition(at: dt.datetime) -> str:
    """The key of the newest complete daily partition at `at`: the day before, in UTC."""
    day = at.astimezone(dt.UTC).date() - dt.timedelta(days=1)
    return day.isoformat()


def build_schedules(
    cron: str,
    jobs: dict[str, UnresolvedAssetJobDefinition] | None = None,
    expectations_cron: str = "17 * * * *",
    dbt_checks_cron: str = "47 * * * *",
) -> list[dg.ScheduleDefinition]:
    """The schedules: the refresh on `cron`, the daily partitions, the two hourly check jobs."""
    jobs = jobs or analytics_jobs()

    @dg.schedule(
        cron_schedule=DAILY_CRON,
        job=jobs["daily"],
        execution_timezone="UTC",
    )
    def analytics_daily_schedule(
        context: dg.ScheduleEvaluationContext,
    ) -> dg.RunRequest:
        """Yesterday's partition of the daily models, once a day (DAILY_CRON).

        Today's partition does not exist until the day is over: a request for it fails.
        """
        partition = yesterdays_partition(context.scheduled_execution_time)
        return dg.RunRequest(run_key=partition, partition_key=partition)

    return [
        _running(jobs["refresh"], cron),
        analytics_daily_schedule,
        _running(jobs["expectations"], expectations_cron),
        _running(jobs["dbt_checks"], dbt_checks_cron),
    ]


@dg.definitions
def defs() -> dg.Definitions:
    jobs = analytics_jobs()
    settings = get_settings()
    schedules = build_schedules(
        settings.analytics_cron,
        jobs,
        expectations_cron=settings.analytics_expectations_cron,
        dbt_checks_cron=settings.analytics_dbt_checks_cron,
    )
    return dg.Definitions(jobs=list(jobs.values()), schedules=schedules)
