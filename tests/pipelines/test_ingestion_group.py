"""The `ingestion` asset group: consumer lag and DLQ size as metadata, from the real broker."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import dagster as dg
import pytest
from clickhouse_connect.driver.client import Client
from confluent_kafka import Consumer, Producer, TopicPartition

from murmur.kafka import ensure_topics, producer_config
from murmur.net import free_port
from murmur.settings import Settings
from pipelines.defs.checks.expectations import events_expectations
from pipelines.defs.ingestion.assets import EVENTS_KEY, events
from pipelines.defs.ingestion.resources import KafkaResource
from pipelines.lib.resources import ClickHouseResource

pytestmark = [pytest.mark.integration, pytest.mark.slow]  # the events suite imports GX


def _produce(bootstrap: str, topic: str, n: int) -> None:
    producer = Producer(producer_config(bootstrap))
    for i in range(n):  # one batch each: the local broker was seen to count batches, not records
        producer.produce(topic, key=str(i), value=b"{}", partition=0)
        assert producer.flush(10) == 0


def _commit(bootstrap: str, group: str, topic: str, offset: int) -> None:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        consumer.commit(offsets=[TopicPartition(topic, 0, offset)], asynchronous=False)
    finally:
        consumer.close()


def _resources(settings: Settings, kafka: KafkaResource) -> dict[str, object]:
    clickhouse = ClickHouseResource(
        url=settings.clickhouse_url,
        database=settings.clickhouse_database,
        state_dir=str(settings.state_dir),
    )
    return {"clickhouse": clickhouse, "kafka": kafka}


def test_the_events_asset_reports_lag_per_group_dlq_size_and_counts(
    analytics_settings: Settings, ch: Client, kafka_bootstrap: str
) -> None:
    tag = uuid.uuid4().hex[:8]
    topic, dlq = f"test-{tag}-events", f"test-{tag}-dlq"
    ensure_topics(kafka_bootstrap, [topic, dlq], partitions=1)
    _produce(kafka_bootstrap, topic, 5)
    _produce(kafka_bootstrap, dlq, 2)
    events_group, feedback_group = f"g-{tag}-events", f"g-{tag}-feedback"
    _commit(kafka_bootstrap, events_group, topic, 3)  # 2 left to read
    ch.insert(
        "events",
        [[f"ev-{tag}-{i}", "delivery", datetime.now(UTC), "sendgrid", False] for i in range(3)],
        column_names=["event_id", "type", "timestamp", "provider", "machine_open"],
    )
    kafka = KafkaResource(
        bootstrap_servers=kafka_bootstrap,
        events_topic=topic,
        dlq_topic=dlq,
        groups=[events_group, feedback_group],
    )

    result = dg.materialize(
        [events, events_expectations], resources=_resources(analytics_settings, kafka)
    )

    assert result.success
    [mat] = result.asset_materializations_for_node("ingestion__events")
    meta = {k: v.value for k, v in mat.metadata.items()}
    assert meta[f"consumer_lag:{events_group}"] == 2, meta
    assert meta[f"committed:{events_group}"] == 3
    assert meta[f"consumer_lag:{feedback_group}"] == 5  # never committed: all of it
    assert meta["consumer_lag_total"] == 7
    assert meta["dlq_messages"] == 2
    assert meta["events"] == int(ch.command("select count() from events"))
    assert meta["events"] >= 3
    # the events suite ran in the same run, against the same table
    [check] = result.get_asset_check_evaluations()
    assert check.asset_key == EVENTS_KEY
    assert check.check_name == "events_expectations"
    assert check.metadata["rows_checked"].value == meta["events"]


@pytest.mark.slow
def test_the_events_asset_fails_naming_kafka_when_the_broker_is_down(
    analytics_settings: Settings, ch: Client
) -> None:
    kafka = KafkaResource(bootstrap_servers=f"127.0.0.1:{free_port()}")

    result = dg.materialize(
        [events], resources=_resources(analytics_settings, kafka), raise_on_error=False
    )

    assert not result.success
    [failure] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert "Kafka" in str(failure.step_failure_data.error)
