"""The send job, its assets and the due-campaign sensor, built with MURMUR_SEND_SHARDS at load."""

from __future__ import annotations

import dagster as dg

from pipelines.defs.sending.assets import build_send_assets
from pipelines.defs.sending.partitions import send_partitions, send_shards
from pipelines.defs.sending.sensors import RUN_TAGS, build_due_campaigns_sensor
from pipelines.lib.sending import SenderResource

JOB = "campaign_send_job"


def build_sending_defs(shards: int) -> dg.Definitions:
    """Everything of the sending domain for `shards` shards per campaign."""
    partitions = send_partitions(shards)
    assets = build_send_assets(shards, partitions)
    job = dg.define_asset_job(
        JOB,
        selection=dg.AssetSelection.assets(*assets),
        # The snapshot and the send run one after the other: a process per step would only
        # import Dagster and load the code location again (seconds each) before the send.
        executor_def=dg.in_process_executor,
        run_tags=RUN_TAGS,  # by hand from the UI too: a send goes ahead of queued housekeeping
        description="Freeze a campaign's audience, then send one shard of its ledger.",
    )
    return dg.Definitions(
        assets=assets,
        jobs=[job],
        sensors=[build_due_campaigns_sensor(JOB, shards)],
        resources={"sender": SenderResource()},
    )


@dg.definitions
def defs() -> dg.Definitions:
    return build_sending_defs(send_shards())
