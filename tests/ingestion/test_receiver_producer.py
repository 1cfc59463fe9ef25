"""`EventProducer`'s own deadline: a request Kafka never acknowledges fails after `ack_timeout`.

The producer keeps waiting requests on one queue in deadline order and its poll task fails the
late ones (no timer per request). Here librdkafka's own message timeout is set far beyond the
deadline and the bootstrap address has no broker, so only that queue can end the wait.
"""

from __future__ import annotations

import asyncio

import pytest

from ingestion.receiver.errors import BrokerUnavailable
from ingestion.receiver.producer import EventProducer
from murmur.kafka import EVENTS_TOPIC
from murmur.net import free_port

pytestmark = pytest.mark.integration


async def _send_to_nowhere() -> tuple[list[BaseException | None], int]:
    producer = EventProducer(
        f"127.0.0.1:{free_port()}", ack_timeout=1.0, **{"message.timeout.ms": 60_000}
    )
    try:
        first = asyncio.create_task(producer.send([(EVENTS_TOPIC, b"1", b"{}")]))
        await asyncio.sleep(0.3)  # a later request: its deadline is later too
        second = asyncio.create_task(producer.send([(EVENTS_TOPIC, b"2", b"{}")] * 3))
        async with asyncio.timeout(30):  # a guard: librdkafka alone would wait 60 s
            results = await asyncio.gather(first, second, return_exceptions=True)
        waiting = len(producer._waiting)
    finally:
        producer._producer.purge()
        await producer.close(timeout=1.0)
    return results, waiting


def test_unacknowledged_requests_fail_at_their_deadline_and_leave_the_queue() -> None:
    results, waiting = asyncio.run(_send_to_nowhere())
    for result in results:
        assert isinstance(result, BrokerUnavailable), result
        assert "did not acknowledge within 1s" in str(result)
    assert waiting == 0
