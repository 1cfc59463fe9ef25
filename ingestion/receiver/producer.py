"""An asyncio front to the idempotent confluent-kafka producer, with per-request delivery waits.

`send` queues every message of one request and resolves one future when the broker acknowledged
all of them (or raises `BrokerUnavailable` on the first failure or after `ack_timeout` seconds).
Delivery reports arrive on a background poll thread; each request costs one cross-thread wake-up,
not one per message, so 1000-event batches stay cheap.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from ingestion.receiver.errors import BrokerUnavailable
from murmur.kafka import producer_config

log = logging.getLogger(__name__)

Record = tuple[str, bytes | None, bytes]  # topic, key, value

# Errors after which this producer's id/epoch is dead (e.g. a memory-storage broker restarted and
# forgot it): every later message fails the same way until the producer is rebuilt.
_RESET_CODES = frozenset(
    {
        KafkaError.PRODUCER_FENCED,
        KafkaError.INVALID_PRODUCER_EPOCH,
        KafkaError.UNKNOWN_PRODUCER_ID,
        KafkaError.OUT_OF_ORDER_SEQUENCE_NUMBER,
        KafkaError.INVALID_PRODUCER_ID_MAPPING,
        KafkaError._FENCED,
        KafkaError._FATAL,
    }
)


class _Batch:
    """Counts the delivery reports of one request; wakes its future once."""

    def __init__(
        self, count: int, loop: asyncio.AbstractEventLoop, on_dead_producer: Callable[[], None]
    ) -> None:
        self.on_dead_producer = on_dead_producer
        self.pending = count
        self.loop = loop
        self.future: asyncio.Future[None] = loop.create_future()
        self.failed = False
        self.lock = threading.Lock()

    def _resolve(self, error: str | None) -> None:
        if self.future.done():
            return
        if error is None:
            self.future.set_result(None)
        else:
            self.future.set_exception(BrokerUnavailable(error))

    def fail(self, error: str) -> None:
        with self.lock:
            if self.failed:
                return
            self.failed = True
        self.loop.call_soon_threadsafe(self._resolve, error)

    def on_delivery(self, err: KafkaError | None, _msg: Message) -> None:
        if err is not None:
            if err.fatal() or err.code() in _RESET_CODES:
                self.on_dead_producer()
            self.fail(f"Kafka did not acknowledge: {err.str()}")
            return
        with self.lock:
            self.pending -= 1
            done = self.pending == 0 and not self.failed
        if done:
            self.loop.call_soon_threadsafe(self._resolve, None)


class EventProducer:
    """One shared producer per process; `send` is safe to call from many concurrent requests."""

    def __init__(self, bootstrap_servers: str, ack_timeout: float = 6.0, **overrides: Any) -> None:
        self.ack_timeout = ack_timeout
        self._config = producer_config(
            bootstrap_servers,
            **{
                "message.timeout.ms": int(ack_timeout * 1000) - 500,
                "queue.buffering.max.messages": 500_000,
                "queue.buffering.max.kbytes": 512 * 1024,
                "linger.ms": 2,
                "error_cb": self._on_error,
                **overrides,
            },
        )
        self._producer = Producer(self._config)
        self._stop = threading.Event()
        self._fatal = False
        self._thread = threading.Thread(target=self._poll, name="kafka-delivery", daemon=True)
        self._thread.start()

    def _on_error(self, err: KafkaError) -> None:
        if err.fatal():
            log.error("Kafka producer fatal error, rebuilding it: %s", err.str())
            self._mark_dead()
        else:
            log.warning("Kafka producer: %s", err.str())

    def _mark_dead(self) -> None:
        self._fatal = True

    def _poll(self) -> None:
        while not self._stop.is_set():
            self._producer.poll(0.05)

    def _rebuild(self) -> None:
        """Replace a producer whose id the broker rejects; its queue is failing anyway."""
        log.warning("rebuilding the Kafka producer (its producer id was rejected)")
        old = self._producer
        self._producer = Producer(self._config)
        self._fatal = False
        old.purge()
        old.poll(0)

    async def send(self, records: Sequence[Record]) -> None:
        """Produce every record and wait until all are acknowledged by the broker."""
        if not records:
            return
        if self._fatal:
            self._rebuild()
        batch = _Batch(len(records), asyncio.get_running_loop(), self._mark_dead)
        for topic, key, value in records:
            while True:
                try:
                    self._producer.produce(topic, value, key, on_delivery=batch.on_delivery)
                    break
                except BufferError:
                    await asyncio.sleep(0.01)  # local queue full: let deliveries drain
                except KafkaException as exc:
                    batch.fail(f"Kafka refused the message: {exc}")
                    break
            if batch.failed:
                break
        try:
            await asyncio.wait_for(batch.future, self.ack_timeout)
        except TimeoutError:
            raise BrokerUnavailable(
                f"Kafka did not acknowledge within {self.ack_timeout:.0f}s"
            ) from None

    def close(self, timeout: float = 10.0) -> None:
        """Deliver what is queued (up to `timeout`), then stop the poll thread."""
        self._producer.flush(timeout)
        self._stop.set()
        self._thread.join(timeout=2)
