"""`due_campaigns_sensor`: launch every shard of each campaign whose scheduled time has come."""

import json
from functools import lru_cache

import dagster as dg
import sqlalchemy as sa

from murmur.db.engine import make_engine
from murmur.db.tables import campaigns
from pipelines.defs.sending.partitions import campaign_partitions, shard_key
from pipelines.lib.resources import PostgresResource

MAX_PER_TICK = 500
# Dagster's sensor daemon evaluates sensors in a loop of 5 s (MIN_INTERVAL_LOOP_TIME, not
# configurable). A minimum interval of exactly 5 s made every other loop fall a few ms short
# and skip, so a due campaign waited up to 10 s for its tick (measured: ticks 5 to 10 s apart);
# below the loop's period the sensor is evaluated on every loop, every 5 s, and no faster.
SENSOR_INTERVAL = 3
# The queued run coordinator launches higher priorities first: a due send goes ahead of the
# housekeeping runs (criteria segments, scheduled refreshes) queued with it.
SEND_PRIORITY = "10"
RUN_TAGS = {"dagster/priority": SEND_PRIORITY}


def due_campaign_ids(engine: sa.Engine, limit: int = MAX_PER_TICK) -> list[int]:
    """Scheduled campaigns of every account whose `scheduled_at` has passed, oldest first."""
    query = (
        sa.select(campaigns.c.campaign_id)
        .where(campaigns.c.status == "scheduled", campaigns.c.scheduled_at <= sa.func.now())
        .order_by(campaigns.c.scheduled_at, campaigns.c.campaign_id)
        .limit(limit)
    )
    with engine.connect() as conn:
        return [int(i) for i in conn.execute(query).scalars()]


@lru_cache(maxsize=8)
def _engine(url: str) -> sa.Engine:
    """One small pool per database for the code server's life.

    A tick every 5 s (idle too) had opened a new engine and connection, a Postgres backend,
    each time: about 7 ms of CPU against 1.4 ms on the pool's connection.
    """
    return make_engine(url, pool_size=1, max_overflow=1)


def run_key(campaign_id: int, shard: int) -> str:
    return f"{campaign_id}:{shard}"


def build_due_campaigns_sensor(job_name: str, shards: int) -> dg.SensorDefinition:
    @dg.sensor(
        name="due_campaigns_sensor",
        job_name=job_name,
        minimum_interval_seconds=SENSOR_INTERVAL,
        default_status=dg.DefaultSensorStatus.RUNNING,
    )
    def due_campaigns_sensor(
        context: dg.SensorEvaluationContext, postgres: PostgresResource
    ) -> dg.SensorResult | dg.SkipReason:
        """Start the send job, one run per shard, for each campaign that became due.

        The cursor is the set of due campaigns already requested that are still `scheduled`
        (their runs may be queued). A time watermark would miss a campaign whose transaction
        set `scheduled_at` before a tick but committed after it; the set stays small because
        a campaign leaves it as soon as a shard moves it to `sending`. Run keys come from the
        partition, so even a lost cursor never launches a shard twice.
        """
        due = due_campaign_ids(_engine(postgres.database_url()))
        requested = set(json.loads(context.cursor)["requested"]) if context.cursor else set()
        new = [c for c in due if c not in requested]
        cursor = json.dumps({"requested": sorted(set(due))})
        if not new:
            context.update_cursor(cursor)
            waiting = f" ({len(due)} already requested)" if due else ""
            return dg.SkipReason(f"no campaign became due{waiting}")
        context.log.info(f"due campaigns: {new}, {shards} shard(s) each")
        return dg.SensorResult(
            run_requests=[
                dg.RunRequest(run_key=run_key(c, s), partition_key=shard_key(c, s))
                for c in new
                for s in range(shards)
            ],
            dynamic_partitions_requests=[
                campaign_partitions.build_add_request([str(c) for c in new])
            ],
            cursor=cursor,
        )

    return due_campaigns_sensor
