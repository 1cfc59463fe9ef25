"""A campaign's dispatch as two assets per (campaign, shard) partition, run in order in one run.

Step one, `campaign_audience_snapshot`, evaluates the segment live and freezes the audience into
the send ledger while moving the campaign `scheduled → sending`, in one transaction under the
campaign's row lock (`murmur.domain.sending.start_dispatch`). Every shard's run executes it: the
first to take the lock writes the ledger rows, the others wait on that lock and find the snapshot
already recorded, so the audience is frozen exactly once and no shard can start sending before
it exists (no cross-run ordering needed). Step two, `campaign_send`, runs the sender's Manager
in-process for that shard until its ledger rows are done.
"""

from typing import Any

import dagster as dg
import sqlalchemy as sa

from murmur.clickhouse import open_optional
from murmur.db.engine import make_engine
from murmur.domain.audience import AudienceError
from murmur.domain.sending import (
    DispatchError,
    campaign_row,
    counters,
    refuse_unless_compliant,
    start_dispatch,
)
from pipelines.defs.sending.partitions import CAMPAIGN, SHARD
from pipelines.lib.resources import ClickHouseResource, PostgresResource
from pipelines.lib.sending import SenderResource, run_to_end, shard_counters
from sender.manager import Pipe

GROUP = "sending"
ACTOR = "dagster"


def partition_of(
    context: dg.AssetExecutionContext, partitions: dg.MultiPartitionsDefinition
) -> tuple[int, int]:
    """(campaign id, shard) of the run's multi-partition key."""
    dims = partitions.get_partition_key_from_str(str(context.partition_key)).keys_by_dimension
    return int(dims[CAMPAIGN]), int(dims[SHARD])


def _engine(postgres: PostgresResource) -> sa.Engine:
    return make_engine(postgres.database_url(), pool_size=2, max_overflow=2)


def build_send_assets(shards: int, partitions: dg.MultiPartitionsDefinition) -> list[Any]:
    """The snapshot and send assets over `partitions` (campaign × `shards` shards)."""

    @dg.asset(partitions_def=partitions, group_name=GROUP, kinds={"postgres"})
    def campaign_audience_snapshot(
        context: dg.AssetExecutionContext,
        postgres: PostgresResource,
        clickhouse: ClickHouseResource,
    ) -> dg.MaterializeResult[None]:
        """The campaign's audience frozen in the send ledger: segment now minus unsendable.

        A criteria segment is refreshed first (its membership and history in ClickHouse); see
        `murmur.domain.sending.snapshot`.
        """
        campaign_id, shard = partition_of(context, partitions)
        engine = _engine(postgres)
        ch = None
        try:
            refuse_unless_compliant(engine, campaign_id, actor=ACTOR)  # renders: before locks
            with engine.begin() as conn:
                before = campaign_row(conn, campaign_id, lock=True)
                if before["status"] == "sent":
                    row = before
                else:
                    if before["snapshot_at"] is None:
                        ch = open_optional(clickhouse.settings())
                    row = start_dispatch(conn, campaign_id, actor=ACTOR, clickhouse=ch)
                counts = counters(conn, campaign_id)
        except (DispatchError, AudienceError) as exc:
            raise dg.Failure(description=f"campaign {campaign_id}: {exc}") from None
        finally:
            engine.dispose()
            if ch is not None:
                ch.close()
        frozen_here = before["snapshot_at"] is None and row["snapshot_at"] is not None
        context.log.info(
            f"campaign {campaign_id} shard {shard}: audience of {counts['total']} "
            + ("frozen by this run" if frozen_here else "already frozen")
            + f" at {row['snapshot_at']}"
        )
        return dg.MaterializeResult(
            metadata={
                "campaign_id": campaign_id,
                "audience": counts["total"],
                "snapshot_at": str(row["snapshot_at"]),
                "frozen_by_this_run": frozen_here,
                "campaign_status": row["status"],
            }
        )

    @dg.asset(
        partitions_def=partitions,
        deps=[campaign_audience_snapshot],
        group_name=GROUP,
        kinds={"python", "smtp"},
    )
    def campaign_send(
        context: dg.AssetExecutionContext, postgres: PostgresResource, sender: SenderResource
    ) -> dg.MaterializeResult[None]:
        """One shard of a campaign delivered: every queued ledger row sent, failed or skipped."""
        campaign_id, shard = partition_of(context, partitions)
        engine = _engine(postgres)

        def progress(pipe: Pipe) -> None:
            context.log.info(
                f"campaign {campaign_id} shard {shard}/{shards}: {pipe.sent} sent, "
                f"{pipe.failed} failed, {pipe.released} released ({pipe.outcome})"
            )

        try:
            with engine.connect() as conn:
                status = campaign_row(conn, campaign_id)["status"]
            pipe = Pipe(outcome="sent")
            delivery: dict[str, Any] = {}
            if status != "sent":  # a re-run of a finished campaign sends nothing
                manager, messenger = sender.manager(engine, shard, shards, progress)
                try:
                    pipe = run_to_end(manager, campaign_id)
                finally:
                    delivery = messenger.metadata()  # ESPs, circuits, rate changes
                    messenger.close()
            with engine.connect() as conn:
                mine = shard_counters(conn, campaign_id, shard, shards)
                status = campaign_row(conn, campaign_id)["status"]
        except (DispatchError, AudienceError) as exc:
            raise dg.Failure(description=f"campaign {campaign_id}: {exc}") from None
        finally:
            engine.dispose()
        metadata: dict[str, Any] = {
            **mine,
            "campaign_id": campaign_id,
            "shard": shard,
            "outcome": pipe.outcome,
            "campaign_status": status,
            "sent_by_this_run": pipe.sent,
            "failed_by_this_run": pipe.failed,
            "reclaimed_by_this_run": pipe.reclaimed,
            **{key: dg.MetadataValue.json(value) for key, value in delivery.items()},
        }
        if pipe.outcome not in ("sent", "done", "cancelled"):
            raise dg.Failure(
                description=f"campaign {campaign_id} shard {shard} {pipe.outcome}: "
                "re-run the partition to resume",
                metadata=metadata,
            )
        return dg.MaterializeResult(metadata=metadata)

    return [campaign_audience_snapshot, campaign_send]
