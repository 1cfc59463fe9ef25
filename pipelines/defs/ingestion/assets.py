"""The ingestion group: the `events` table the Kafka consumer fills, observed with its backlog."""

from typing import Any

import dagster as dg

from murmur.ingestion_status import IngestionStatus, collect
from murmur.settings import Settings
from pipelines.defs.ingestion.resources import KafkaResource
from pipelines.lib.resources import ClickHouseResource

GROUP = "ingestion"
EVENTS_KEY = dg.AssetKey([GROUP, "events"])  # what dbt's source('ingestion', 'events') depends on


def status_metadata(status: IngestionStatus) -> dict[str, Any]:
    """Lag per consumer group, DLQ size and event counts as flat Dagster metadata."""
    metadata: dict[str, Any] = {
        "dlq_messages": status.dlq_messages,
        "events": status.events,
        "unmatched_events": status.unmatched,
        "last_ingested_at": status.last_ingested_at,
        "consumer_lag_total": sum(g.lag or 0 for g in status.groups),
    }
    for g in status.groups:
        metadata[f"consumer_lag:{g.group}"] = g.lag
        metadata[f"committed:{g.group}"] = g.committed
    metadata.update({f"events:{t}": n for t, n in status.by_type.items()})
    return {k: v for k, v in metadata.items() if v is not None}


def _settings(clickhouse: ClickHouseResource, kafka: KafkaResource) -> Settings:
    settings = clickhouse.settings()
    if kafka.bootstrap_servers:
        settings = settings.model_copy(update={"kafka_bootstrap_servers": kafka.bootstrap_servers})
    return settings


@dg.asset(key=EVENTS_KEY, group_name=GROUP, kinds={"kafka", "clickhouse"})
def events(
    context: dg.AssetExecutionContext, clickhouse: ClickHouseResource, kafka: KafkaResource
) -> dg.MaterializeResult[None]:
    """ESP events landed by the Kafka consumer, with its consumer lag and dead-letter count.

    The consumer writes the table; this asset records its state (it writes nothing). It fails,
    naming the service, when Kafka or ClickHouse cannot be read.
    """
    settings = _settings(clickhouse, kafka)
    groups = kafka.groups or [settings.consumer_group, settings.feedback_group]
    status = collect(settings, groups, kafka.events_topic, kafka.dlq_topic)
    metadata = status_metadata(status)
    for key, value in metadata.items():
        context.log.info(f"{key}: {value}")
    if status.errors:
        raise dg.Failure(description="; ".join(status.errors), metadata=metadata)
    return dg.MaterializeResult(metadata=metadata)
