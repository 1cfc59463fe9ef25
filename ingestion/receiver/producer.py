"""An asyncio front to the idempotent confluent-kafka producer, with per-request delivery waits.

`send` queues every message of one request and resolves one future when the broker acknowledged
all of them (or raises `BrokerUnavailable` on the first failure or after `ack_timeout` seconds).
Delivery reports are served by a poll task on the event loop itself (no poll thread): callbacks
run on the loop's thread, so there is no cross-thread wake-up and no GIL ping-pong per request.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
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
_POLL_INTERVAL = 0.002  # seconds between polls while deliveries are outstanding (linger 10 ms)


class _Batch:
    """Counts the delivery reports of one request; resolves its future once."""

    __slots__ = ("deadline", "future", "owner", "pending")

    def __init__(self, count: int, owner: EventProducer, deadline: float) -> None:
        self.pending = count
        self.owner = owner
        self.deadline = deadline  # loop time after which the request fails (ack_timeout)
        self.future: asyncio.Future[None] = owner.loop.create_future()

    @property
    def failed(self) -> bool:
        return self.future.done()

    def fail(self, error: str) -> None:
        if not self.future.done():
            self.future.set_exception(BrokerUnavailable(error))
            self.future.exception()  # retrieved: a timed-out waiter must not warn about it

    def on_delivery(self, err: KafkaError | None, _msg: Message) -> None:
        self.owner.outstanding -= 1
        if err is not None:
            if err.fatal() or err.code() in _RESET_CODES:
                self.owner.mark_dead()
            self.fail(f"Kafka did not acknowledge: {err.str()}")
            return
        self.pending -= 1
        if self.pending == 0 and not self.future.done():
            self.future.set_result(None)


class EventProducer:
    """One shared producer per process; `send` is safe from many concurrent requests.

    Create it inside the running event loop (the app's lifespan) and `close` it there.
    """

    def __init__(self, bootstrap_servers: str, ack_timeout: float = 6.0, **overrides: Any) -> None:
        self.ack_timeout = ack_timeout
        self._config = producer_config(
            bootstrap_servers,
            **{
                "message.timeout.ms": int(ack_timeout * 1000) - 500,
                "queue.buffering.max.messages": 500_000,
                "queue.buffering.max.kbytes": 512 * 1024,
                # many single-event requests share one produce request to the broker (fewer
                # broker round trips and less CPU per event there); +10 ms per webhook at most.
                # 5 ms answered a closed loop faster but the broker's CPU per SNS request rose
                # (both measured on a loaded machine); lz4 kept: uncompressed, Tansu spent more.
                "linger.ms": 10,
                "error_cb": self._on_error,
                **overrides,
            },
        )
        self._producer = Producer(self._config)
        self._dead = False
        self.outstanding = 0
        self.loop = asyncio.get_running_loop()
        # waiting requests, oldest first (one ack_timeout for all: deadlines in order); the poll
        # loop fails the late ones, instead of a timer per request
        self._waiting: deque[_Batch] = deque()
        self._wake = asyncio.Event()
        self._task = self.loop.create_task(self._poll_loop())

    def _on_error(self, err: KafkaError) -> None:
        if err.fatal():
            log.error("Kafka producer fatal error, rebuilding it: %s", err.str())
            self.mark_dead()
        else:
            log.warning("Kafka producer: %s", err.str())

    def mark_dead(self) -> None:
        self._dead = True

    async def _poll_loop(self) -> None:
        while True:
            if self.outstanding <= 0 and not self._waiting:
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), 1.0)
                except TimeoutError:
                    pass  # poll now and then anyway: error callbacks, statistics
            try:
                self._producer.poll(0)
            except Exception:  # a callback raised: keep serving the others (and the deadlines)
                log.exception("Kafka producer poll failed")
            self._expire()
            await asyncio.sleep(_POLL_INTERVAL)

    def _expire(self) -> None:
        """Drop answered requests from the head of the queue; fail those past their deadline."""
        waiting = self._waiting
        now = self.loop.time()
        while waiting:
            head = waiting[0]
            if not head.future.done():
                if head.deadline > now:
                    return
                head.fail(f"Kafka did not acknowledge within {self.ack_timeout:.0f}s")
            waiting.popleft()

    def _rebuild(self) -> None:
        """Replace a producer whose id the broker rejects; its queue is failing anyway."""
        log.warning("rebuilding the Kafka producer (its producer id was rejected)")
        old = self._producer
        self._producer = Producer(self._config)
        self._dead = False
        old.purge()
        old.poll(0)  # fails the purged messages' batches now

    async def send(self, records: Sequence[Record]) -> None:
        """Produce every record and wait until all are acknowledged by the broker."""
        if not records:
            return
        if self._dead:
            self._rebuild()
        batch = _Batch(len(records), self, self.loop.time() + self.ack_timeout)
        self._waiting.append(batch)  # before any await: the queue stays in deadline order
        produce: Callable[..., None] = self._producer.produce
        on_delivery = batch.on_delivery  # one bound method for the whole request
        for topic, key, value in records:
            try:
                produce(topic, value, key, on_delivery=on_delivery)
            except BufferError:
                if not await self._retry_full(produce, (topic, value, key), batch):
                    break
            except KafkaException as exc:
                batch.fail(f"Kafka refused the message: {exc}")
                break
            self.outstanding += 1
        self._wake.set()
        await batch.future

    async def _retry_full(
        self, produce: Callable[..., None], record: tuple[str, bytes, bytes | None], batch: _Batch
    ) -> bool:
        """Produce once the local queue has room again; False when the request failed first."""
        topic, value, key = record
        while not batch.failed:
            self._wake.set()
            await asyncio.sleep(0.01)  # local queue full: let deliveries drain
            try:
                produce(topic, value, key, on_delivery=batch.on_delivery)
                return True
            except BufferError:
                continue
            except KafkaException as exc:
                batch.fail(f"Kafka refused the message: {exc}")
        return False

    async def close(self, timeout: float = 10.0) -> None:
        """Deliver what is queued (up to `timeout`), then stop polling."""
        self._task.cancel()
        self._producer.flush(timeout)  # on the loop's thread, where the callbacks belong
