"""Segment sensors: criteria segments ↔ dynamic partitions, and dbt segments ↔ Postgres.

`criteria_segments_sensor` keeps one partition of `criteria_segments` per active criteria
segment (added when created, removed when deleted or retired) and requests a run for each new or
changed segment (its `updated_at` moved) and, at most `MAX_STALE_PER_TICK` a tick, for each
segment not recomputed for `REFRESH_EVERY` (event conditions age). `dbt_segments_sync_sensor`
registers the SQL segments of the loaded manifest (`murmur.domain.dbt_segments`);
`segment_membership_cleanup_sensor` empties the current membership of deleted or retired
segments, closing their history.
"""

import datetime as dt
import json
from pathlib import Path

import dagster as dg
import sqlalchemy as sa

from murmur.db.engine import make_engine
from murmur.db.tables import segments
from murmur.domain.dbt_segments import (
    ACTIVE,
    CRITERIA_PARTITIONS,
    DbtSegmentModel,
    close_orphan_memberships,
    segment_models,
    sync_dbt_segments,
)
from pipelines.defs.segments.partitions import criteria_segment_partitions
from pipelines.lib.dbt.manifest import load_manifest
from pipelines.lib.resources import ClickHouseResource, PostgresResource

MAX_NEW_PER_TICK = 500
MAX_STALE_PER_TICK = 25
REFRESH_EVERY = dt.timedelta(hours=1)


def criteria_versions(engine: sa.Engine) -> dict[str, str]:
    """Partition key (segment id) → version (`updated_at`) of every active criteria segment."""
    query = (
        sa.select(segments.c.segment_id, segments.c.updated_at)
        .where(segments.c.kind == "criteria", segments.c.status == ACTIVE)
        .order_by(segments.c.segment_id)
    )
    with engine.connect() as conn:
        return {str(r.segment_id): r.updated_at.isoformat() for r in conn.execute(query)}


def plan_criteria_tick(
    versions: dict[str, str],
    partitions: set[str],
    cursor: dict[str, list[str]],
    now: dt.datetime,
) -> tuple[list[str], list[str], list[dg.RunRequest], dict[str, list[str]]]:
    """(partitions to add, to delete, run requests, next cursor) for one sensor tick.

    The cursor maps a segment id to [version, last requested at]; run keys are
    `<id>@<version>` (a change) or `<id>@<version>@<requested at>` (a periodic refresh), so a
    lost cursor never requests the same version twice.
    """
    add = sorted(set(versions) - partitions, key=int)
    delete = sorted(partitions - set(versions), key=lambda k: (not k.isdigit(), k))
    requests: list[dg.RunRequest] = []
    nxt: dict[str, list[str]] = {}
    stale: list[tuple[str, str]] = []
    for key, version in versions.items():
        previous = cursor.get(key)
        if previous is None or previous[0] != version:
            if len(requests) < MAX_NEW_PER_TICK:
                requests.append(dg.RunRequest(run_key=f"{key}@{version}", partition_key=key))
                nxt[key] = [version, now.isoformat()]
            continue
        nxt[key] = previous
        if dt.datetime.fromisoformat(previous[1]) <= now - REFRESH_EVERY:
            stale.append((previous[1], key))
    for _, key in sorted(stale)[:MAX_STALE_PER_TICK]:
        at = now.isoformat()
        requests.append(dg.RunRequest(run_key=f"{key}@{versions[key]}@{at}", partition_key=key))
        nxt[key] = [versions[key], at]
    return add, delete, requests, nxt


def build_criteria_segments_sensor(job_name: str) -> dg.SensorDefinition:
    @dg.sensor(
        name="criteria_segments_sensor",
        job_name=job_name,
        minimum_interval_seconds=30,
        default_status=dg.DefaultSensorStatus.RUNNING,
    )
    def criteria_segments_sensor(
        context: dg.SensorEvaluationContext, postgres: PostgresResource
    ) -> dg.SensorResult | dg.SkipReason:
        """One partition per criteria segment; a run for each new, changed or stale one."""
        engine = make_engine(postgres.database_url(), pool_size=1, max_overflow=0)
        try:
            versions = criteria_versions(engine)
        finally:
            engine.dispose()
        partitions = set(context.instance.get_dynamic_partitions(CRITERIA_PARTITIONS))
        cursor = json.loads(context.cursor) if context.cursor else {}
        now = dt.datetime.now(dt.UTC)
        add, delete, requests, nxt = plan_criteria_tick(versions, partitions, cursor, now)
        if not (add or delete or requests):
            context.update_cursor(json.dumps(nxt))
            return dg.SkipReason(f"{len(versions)} criteria segment(s), none new or changed")
        context.log.info(
            f"partitions +{add} -{delete}; runs for {[r.partition_key for r in requests]}"
        )
        changes: list[dg.AddDynamicPartitionsRequest | dg.DeleteDynamicPartitionsRequest] = []
        if add:
            changes.append(criteria_segment_partitions.build_add_request(add))
        if delete:
            changes.append(criteria_segment_partitions.build_delete_request(delete))
        return dg.SensorResult(
            run_requests=requests, dynamic_partitions_requests=changes, cursor=json.dumps(nxt)
        )

    return criteria_segments_sensor


def sync_from_manifest(database_url: str, manifest_path: Path) -> str:
    """Register the SQL segments of a manifest file in Postgres (see `sync_models`)."""
    return sync_models(database_url, segment_models(load_manifest(manifest_path)))


def sync_models(database_url: str, models: list[DbtSegmentModel]) -> str:
    """Register these SQL segment models in Postgres; a summary naming skipped models."""
    engine = make_engine(
        database_url, pool_size=1, max_overflow=0, connect_args={"connect_timeout": 5}
    )
    try:
        with engine.begin() as conn:
            report = sync_dbt_segments(conn, models)
    finally:
        engine.dispose()
    return "; ".join([f"dbt segments: {report.summary()}", *report.errors])


def build_dbt_segments_sync_sensor(models: list[DbtSegmentModel]) -> dg.SensorDefinition:
    """The sync of the models the code location loaded, not of the manifest file now.

    A run worker may have parsed newer files, which are no assets until the location reloads.
    """

    @dg.sensor(
        name="dbt_segments_sync_sensor",
        minimum_interval_seconds=60,
        default_status=dg.DefaultSensorStatus.RUNNING,
    )
    def dbt_segments_sync_sensor(
        context: dg.SensorEvaluationContext, postgres: PostgresResource
    ) -> dg.SkipReason:
        """Register the loaded manifest's SQL segments as `dbt` segments (retire removed ones)."""
        summary = sync_models(postgres.database_url(), models)
        context.log.info(summary)
        return dg.SkipReason(summary)

    return dbt_segments_sync_sensor


def build_membership_cleanup_sensor() -> dg.SensorDefinition:
    @dg.sensor(
        name="segment_membership_cleanup_sensor",
        minimum_interval_seconds=300,
        default_status=dg.DefaultSensorStatus.RUNNING,
    )
    def segment_membership_cleanup_sensor(
        context: dg.SensorEvaluationContext,
        postgres: PostgresResource,
        clickhouse: ClickHouseResource,
    ) -> dg.SkipReason:
        """Empty the membership of deleted or retired segments (their history is kept, closed)."""
        engine = make_engine(postgres.database_url(), pool_size=1, max_overflow=0)
        try:
            with clickhouse.get_client() as ch:
                emptied = close_orphan_memberships(engine, ch)
        finally:
            engine.dispose()
        if emptied:
            context.log.info(f"emptied the membership of segments {emptied}")
        return dg.SkipReason(f"emptied {len(emptied)} deleted or retired segment(s): {emptied}")

    return segment_membership_cleanup_sensor
