"""Segment membership as assets: SQL segments (a dbt model, then its membership) and criteria.

A SQL segment is two assets: the dbt model of `models/segments/` (built with its contract and
tests) and `segment_membership/<model>`, which writes the members of every active `dbt` segment
built from that model, one account each, into `segment_membership` and its history. Criteria
segments are one asset, `criteria_segments`, with a partition per segment id.
"""

import datetime as dt
from collections.abc import Iterator, Mapping
from typing import Any

import dagster as dg
import sqlalchemy as sa
from dagster_dbt import DbtCliResource, DbtProject, dbt_assets

from murmur.analytics.segments import MembershipResult
from murmur.db.engine import make_engine
from murmur.domain.dbt_segments import (
    CRITERIA_ASSET,
    MEMBERSHIP_PREFIX,
    DbtSegmentModel,
    model_problem,
    refresh_dbt_memberships,
)
from murmur.domain.segment_refresh import refresh_criteria_segment
from pipelines.defs.dbt.assets import SEGMENT_SELECTOR, _build
from pipelines.defs.segments.partitions import criteria_segment_partitions
from pipelines.lib.dbt.translator import MurmurDbtTranslator
from pipelines.lib.resources import ClickHouseResource, PostgresResource

GROUP = "segments"
SEGMENT_DBT_NAME = "segment_dbt_models"
CRITERIA_KEY = dg.AssetKey(CRITERIA_ASSET)


def membership_key(model: str) -> dg.AssetKey:
    return dg.AssetKey([MEMBERSHIP_PREFIX, model])


class SegmentDbtTranslator(MurmurDbtTranslator):
    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        return GROUP


def _engine(postgres: PostgresResource) -> sa.Engine:
    return make_engine(postgres.database_url(), pool_size=1, max_overflow=0)


def result_metadata(results: list[tuple[int, MembershipResult]]) -> dict[str, Any]:
    """Sizes, added and removed (summed over the segments), computed_at, one row per segment."""
    rows = [f"| {segment_id} | {r.size} | {r.added} | {r.removed} |" for segment_id, r in results]
    table = "| segment | size | added | removed |\n|---|---|---|---|\n" + "\n".join(rows)
    computed = max((r.computed_at for _, r in results), default=None)
    return {
        "segments": dg.MetadataValue.int(len(results)),
        "size": dg.MetadataValue.int(sum(r.size for _, r in results)),
        "added": dg.MetadataValue.int(sum(r.added for _, r in results)),
        "removed": dg.MetadataValue.int(sum(r.removed for _, r in results)),
        "computed_at": dg.MetadataValue.text(computed.isoformat() if computed else ""),
        "per_segment": dg.MetadataValue.md(table),
    }


def build_segment_dbt_assets(
    project: DbtProject, manifest: Mapping[str, Any]
) -> dg.AssetsDefinition:
    """The dbt models of `models/segments/` (selected by their `segment` tag).

    `manifest` is the parsed manifest itself, not its path: dagster-dbt caches what it read
    from a path, and a reload must see the segment files of now.
    """

    @dbt_assets(
        manifest=manifest,
        project=project,
        select=SEGMENT_SELECTOR,
        dagster_dbt_translator=SegmentDbtTranslator(),
        name=SEGMENT_DBT_NAME,
    )
    def segment_dbt_models(
        context: dg.AssetExecutionContext, dbt: DbtCliResource, clickhouse: ClickHouseResource
    ) -> Iterator[Any]:
        """SQL segments: one dbt model each, returning exactly (account_id, contact_id)."""
        yield from _build(context, dbt, clickhouse, [])

    return segment_dbt_models


def build_membership_asset(model: DbtSegmentModel, upstream: dg.AssetKey) -> dg.AssetsDefinition:
    """`segment_membership/<model>`: the members of every active segment built from `model`."""
    problem = model_problem(model)
    description = f"Membership of the SQL segment {model.model}. {model.description}".strip()

    @dg.asset(
        key=membership_key(model.model),
        deps=[upstream],
        group_name=GROUP,
        kinds={"clickhouse"},
        description=description,
        metadata={"dbt_model": model.model, "owner": model.owner or "", "path": model.path},
    )
    def _membership(
        context: dg.AssetExecutionContext,
        clickhouse: ClickHouseResource,
        postgres: PostgresResource,
    ) -> dg.MaterializeResult[None]:
        if problem is not None:
            raise dg.Failure(description=problem)
        engine = _engine(postgres)
        try:
            with clickhouse.get_client() as ch:
                now = dt.datetime.now(dt.UTC)
                results = refresh_dbt_memberships(engine, ch, model=model, computed_at=now)
        finally:
            engine.dispose()
        if not results:
            context.log.warning(
                f"no active segment is built from {model.model}: nothing written "
                "(check config.meta.account; the registration sensor logs why)"
            )
        for segment_id, r in results:
            context.log.info(f"segment {segment_id}: {r.size} members (+{r.added} -{r.removed})")
        return dg.MaterializeResult(metadata=result_metadata(results))

    return _membership


@dg.asset(
    key=CRITERIA_KEY,
    partitions_def=criteria_segment_partitions,
    group_name=GROUP,
    kinds={"clickhouse"},
)
def criteria_segments(
    context: dg.AssetExecutionContext, clickhouse: ClickHouseResource, postgres: PostgresResource
) -> dg.MaterializeResult[None]:
    """Membership of criteria segments (defined in the API), one partition per segment id."""
    segment_id = int(context.partition_key)
    engine = _engine(postgres)
    try:
        with clickhouse.get_client() as ch:
            result = refresh_criteria_segment(engine, ch, segment_id, dt.datetime.now(dt.UTC))
    finally:
        engine.dispose()
    context.log.info(
        f"segment {segment_id}: {result.size} members (+{result.added} -{result.removed})"
    )
    return dg.MaterializeResult(metadata=result_metadata([(segment_id, result)]))
