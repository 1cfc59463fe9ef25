"""Topics `ensure_topics` creates split evenly over the consumer processes of one group."""

from __future__ import annotations

import time

import pytest
from confluent_kafka import Consumer, TopicPartition

from murmur.kafka import DEFAULT_PARTITIONS, consumer_config
from tests.ingestion.conftest import Topics

pytestmark = pytest.mark.integration


@pytest.mark.slow
def test_two_consumers_of_one_group_get_the_same_number_of_partitions(
    topics: Topics, kafka_bootstrap: str
) -> None:
    # Regression: with 3 partitions one of `consume --procs 2`'s processes read two of them
    # and did two thirds of the work while the other idled
    assigned: dict[int, set[int]] = {0: set(), 1: set()}

    def keep(index: int) -> object:
        def on_assign(_consumer: Consumer, partitions: list[TopicPartition]) -> None:
            assigned[index] = {tp.partition for tp in partitions}

        return on_assign

    settings = {"session.timeout.ms": 6000, "heartbeat.interval.ms": 500}
    readers = [Consumer(consumer_config(kafka_bootstrap, topics.group, **settings)) for _ in "ab"]
    try:
        for index, reader in enumerate(readers):
            reader.subscribe([topics.events], on_assign=keep(index))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            for reader in readers:
                reader.poll(0.1)
            if len(assigned[0]) + len(assigned[1]) == DEFAULT_PARTITIONS and all(assigned.values()):
                break
        assert assigned[0] | assigned[1] == set(range(DEFAULT_PARTITIONS))
        assert len(assigned[0]) == len(assigned[1]) == DEFAULT_PARTITIONS // 2
    finally:
        for reader in readers:
            reader.close()
