"""The run loop: poll → decode → validate → batch → enrich → sink → DLQ ack → commit.

One batch at a time is stored by a worker thread while the loop reads and parses the next one;
commits stay in the loop's thread and in batch order.

Offsets are committed only after the sink stored the batch and the DLQ acknowledged its dead
letters. A sink or ledger that is down raises `MessageRejected`: the processor stops consuming
(backpressure), retries the same batch with backoff, and commits nothing meanwhile. On stop
(SIGTERM) it finishes the batch in hand, commits it and closes; if the store is down at that
moment it leaves the batch uncommitted, to be redelivered.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka import Message as KafkaMessage

from ingestion.consumer.abstract import InvalidMessage, Message, MessageRejected, Row, Sink
from ingestion.consumer.config import ConsumerConfig
from ingestion.consumer.stats import Phases, Stats, write_status
from ingestion.consumer.strategies.batch import Batch, Batcher
from ingestion.consumer.strategies.commit import commit
from ingestion.consumer.strategies.decode import MAX_MESSAGE_BYTES, decode
from ingestion.consumer.strategies.dlq import DeadLetters, row_message
from ingestion.consumer.strategies.enrich import Enriched, Enricher
from ingestion.consumer.strategies.offsets import OffsetTracker
from ingestion.consumer.strategies.validate import fast_row, latest_allowed, model_row

log = logging.getLogger("ingestion.consumer")


class StreamProcessor:
    def __init__(
        self,
        config: ConsumerConfig,
        role: str,
        sink: Sink,
        enricher: Enricher,
        stop: threading.Event,
        status_file: Path | None = None,
        on_batch: Callable[[Batch], None] | None = None,
    ) -> None:
        self.config = config
        self.role = role
        self.sink = sink
        self.enricher = enricher
        self.stop = stop
        self.status_file = status_file
        self.on_batch = on_batch
        self.stats = Stats(role)
        self._loop_phases = Phases(self.stats.cpu_s, self.stats.wall_s)
        self._store_phases = Phases(self.stats.cpu_s, self.stats.wall_s)
        if hasattr(sink, "phases"):  # a sink that splits its own time (check / insert)
            sink.phases = self._store_phases
        # one batch is stored in this thread while the next one is read and parsed
        self._pool = ThreadPoolExecutor(1, thread_name_prefix=f"{role}-store")
        self._side = ThreadPoolExecutor(1, thread_name_prefix=f"{role}-check")
        self._enrich_pool = ThreadPoolExecutor(1, thread_name_prefix=f"{role}-enrich")
        self._pending: tuple[Batch, Future[None]] | None = None
        self.batcher = Batcher(config.batch_size, config.batch_time_s)
        self.offsets = OffsetTracker(wait_s=config.hole_wait_s, counters=self.stats)
        self.consumer = Consumer(config.kafka_consumer())
        self.dlq = DeadLetters(
            Producer(config.kafka_producer()), config.dlq_topic, f"consumer:{role}"
        )

    def _on_revoke(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        revoked = {(tp.topic, tp.partition) for tp in partitions}
        log.info("%s: revoked %s", self.role, " ".join(f"{t}[{p}]" for t, p in sorted(revoked)))
        for tp in revoked:
            self.offsets.revoked(tp)
        self.batcher.drop_partitions(revoked)
        if self._pending is not None:
            for tp in revoked:
                self._pending[0].offsets.pop(tp, None)

    def run(self) -> None:
        cfg = self.config
        log.info("%s: group %s reading %s", self.role, cfg.group_id, cfg.topic)
        if self.status_file is not None:
            write_status(self.status_file, self.stats)
        if not self._retry(self.sink.prepare, "prepare"):
            self.close()
            return
        self.consumer.subscribe(
            [cfg.topic],
            on_assign=self.offsets.on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_revoke,
        )
        next_report = time.monotonic() + cfg.stats_interval_s
        try:
            phases = self._loop_phases
            while not self.stop.is_set():
                room = max(cfg.batch_size - len(self.batcher.current), 1)
                phases.start()
                raws = self.consumer.consume(num_messages=min(room, 10_000), timeout=0.1)
                phases.done("poll")
                self._take(raws)
                if self.offsets.holes_open:
                    self.offsets.retry_holes(self.consumer)
                phases.done("validate")
                # full, old enough, or the topic went quiet (a poll found nothing for 100 ms):
                # the end of a burst is stored now rather than after the batch time
                if self.batcher.ready() or (not raws and len(self.batcher.current)):
                    self._flush()
                elif self._pending is not None and self._pending[1].done():
                    self._finish_pending()
                if time.monotonic() >= next_report:
                    self.stats.report(self.consumer, self.status_file)
                    next_report = time.monotonic() + cfg.stats_interval_s
            if len(self.batcher.current) or self._pending is not None:
                log.info("%s: stopping: finishing the batch in hand", self.role)
                if len(self.batcher.current):
                    self._flush()
                self._finish_pending()
        finally:
            self.stats.report(self.consumer, self.status_file)
            self.close()

    def _take(self, raws: list[KafkaMessage]) -> None:
        """Validate polled messages into the current batch; poison goes to the DLQ."""
        if not raws:
            return
        batch = self.batcher.current
        if batch.messages == 0:
            batch.started = time.monotonic()
        latest = latest_allowed()
        offsets, rows = batch.offsets, batch.events
        tracker = self.offsets
        expected = tracker.expected if tracker.wait_s > 0 else {}  # 0: no hole check
        reread: set[tuple[str, int]] = set()  # partitions sought back: the rest in hand is stale
        taken = 0
        for raw in raws:
            if raw.error() is not None:
                self._error(raw)
                continue
            topic, partition, offset = raw.topic() or "", raw.partition() or 0, raw.offset() or 0
            tp = (topic, partition)
            want = expected.get(tp)
            if want != offset and want is not None:
                if tp in reread or tracker.reread(self.consumer, tp, offset):
                    reread.add(tp)
                    continue
            elif tracker.holes_open:
                tracker.arrived(tp)
            expected[tp] = offset + 1
            value = raw.value() or b""
            taken += 1
            offsets[tp] = offset + 1
            row = fast_row(value, latest) if 0 < len(value) <= MAX_MESSAGE_BYTES else None
            if row is not None:
                rows.append(row)
                continue
            message = Message(topic, partition, offset, raw.key(), value)
            try:
                decode(message)  # raises for an empty or oversized message, naming the reason
                rows.append(model_row(message))
            except InvalidMessage as exc:
                self._dead_letter(message, exc.reason)
        batch.messages += taken
        self.stats.consumed += taken

    def _error(self, raw: KafkaMessage) -> None:
        err = raw.error()
        if err is not None and err.code() != KafkaError._PARTITION_EOF:
            log.warning("%s: consumer error: %s", self.role, err)

    def _dead_letter(self, message: Message, reason: str) -> None:
        log.warning(
            "%s: dead-lettering %s[%d]@%d: %s",
            self.role,
            message.topic,
            message.partition,
            message.offset,
            reason,
        )
        self.dlq.send(message, reason)
        self.stats.dead_lettered += 1

    def _flush(self) -> None:
        """Hand the batch to the store thread once the previous one is stored and committed.

        Its enrichment (Postgres) starts at once, while the previous batch is still being
        inserted; its duplicate check waits for that insert (it must see it).
        """
        batch = self.batcher.take()
        wanted = [e for e in batch.events if self.sink.accepts(e)]
        enriching = self._enrich_pool.submit(self._enrich, wanted)
        if not self._finish_pending():
            return
        self._pending = (batch, self._pool.submit(self._store, batch, enriching))

    def _enrich(self, wanted: list[Row]) -> Enriched:
        phases = Phases(self.stats.cpu_s, self.stats.wall_s)
        enriched = self.enricher.enrich(wanted)
        phases.done("enrich")
        return enriched

    def _store(self, batch: Batch, enriching: Future[Enriched] | None = None) -> None:
        phases = self._store_phases
        phases.start()
        wanted = [e for e in batch.events if self.sink.accepts(e)]
        # the duplicate check (ClickHouse) needs only ids and times: it runs beside the
        # enrichment (Postgres) instead of after it
        check = getattr(self.sink, "existing", None)
        ahead = self._side.submit(self._check, check, wanted) if check and wanted else None
        try:
            # a retry (enriching is None) enriches again: in place, the same result
            enriched = self._enrich(wanted) if enriching is None else enriching.result()
        finally:
            stored = None if ahead is None else ahead.result()  # raises what the check raised
        phases.done("wait")
        result = self.sink.write(enriched.events, stored)
        phases.done("store")
        for poison in result.poison:
            key, value = row_message(poison.event)
            self.dlq.send(Message(self.config.topic, -1, -1, key, value), poison.reason)
        self.dlq.flush()
        phases.done("dlq")
        self.stats.unmatched += enriched.unmatched
        self.stats.written += result.written
        self.stats.duplicates += result.duplicates
        self.stats.dead_lettered += len(result.poison)

    def _check(self, check: Callable[[list[Row]], set[str]], rows: list[Row]) -> set[str]:
        """The sink's duplicate check, timed as the `check` phase (in the side thread)."""
        phases = Phases(self.stats.cpu_s, self.stats.wall_s)
        stored = check(rows)
        phases.done("check")
        return stored

    def _finish_pending(self) -> bool:
        """Wait for the batch in the store thread, retrying it here if rejected; then commit.

        False when stopped before it could be stored (it stays uncommitted).
        """
        if self._pending is None:
            return True
        batch, future = self._pending
        self._pending = None
        try:
            future.result()
        except MessageRejected as exc:
            self.stats.retries += 1
            log.warning("%s: cannot store a batch (%s); retrying", self.role, exc)
            if not self._retry(lambda: self._store(batch), "store a batch"):
                log.warning("%s: stopped with an unstored batch; it is not committed", self.role)
                return False
        if self.on_batch is not None:
            self.on_batch(batch)  # benchmarks and tests: a hook between store and commit
        self._loop_phases.start()
        commit(self.consumer, batch.offsets)
        self._loop_phases.done("commit")
        self.stats.batches += 1
        return True

    def _retry(self, work: Callable[[], None], what: str) -> bool:
        """Run `work` until it does not raise MessageRejected; False if stopped first."""
        delay = self.config.retry_initial_s
        while True:
            try:
                work()
                return True
            except MessageRejected as exc:
                self.stats.retries += 1
                log.warning("%s: cannot %s (%s); retrying in %.1fs", self.role, what, exc, delay)
            if self.stop.wait(delay):
                return False
            delay = min(delay * 2, self.config.retry_max_s)

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self._side.shutdown(wait=True)
        self._enrich_pool.shutdown(wait=True)
        try:
            self.consumer.close()
        finally:
            self.dlq.producer.flush(5.0)
            self.sink.close()
