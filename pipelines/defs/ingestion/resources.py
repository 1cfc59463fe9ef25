"""The Kafka resource the ingestion group reads (`MURMUR_KAFKA_BOOTSTRAP_SERVERS` by default)."""

import dagster as dg

from murmur.kafka import DLQ_TOPIC, EVENTS_TOPIC


class KafkaResource(dg.ConfigurableResource):  # type: ignore[type-arg]
    """The broker the ingestion consumers read; unset fields fall back to the settings."""

    bootstrap_servers: str | None = None
    events_topic: str = EVENTS_TOPIC
    dlq_topic: str = DLQ_TOPIC
    groups: list[str] | None = None  # default: MURMUR_CONSUMER_GROUP and MURMUR_FEEDBACK_GROUP


# Bound by parameter name; the settings are read when a run uses it.
defs = dg.Definitions(resources={"kafka": KafkaResource()})
