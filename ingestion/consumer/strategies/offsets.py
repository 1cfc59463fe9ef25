"""Step 2b: check that each partition's offsets come in without holes; re-read a hole.

Our topics have no transactions and no compaction, so the offsets one partition hands out are
contiguous: the message after offset N is N + 1. A message further on means the broker served
a later record batch while an earlier one was not readable yet. Tansu's storage does that: a
produce request takes its offsets (the high watermark moves) before its batch is stored, and a
fetch returns the stored batches at or past the fetch offset, so a fetch between the two steps
of a concurrent produce skips the earlier batch, and the consumer, whose next fetch starts
after the later one, never sees it: an event the broker acknowledged would be lost.

On such a hole the processor seeks the partition back to the missing offset and reads it again,
until the missing batch shows up or `wait_s` passed; only then the hole is accepted, logged as
an error and counted (`skipped_offsets`): that happens when the broker assigned offsets to a
batch it then failed to store (its producer got an error, so nothing acknowledged is missing).
An offset going back (a broker offset reset, a redelivery) is logged and counted (`rewinds`):
the sinks dedupe what is read twice.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Protocol

from confluent_kafka import Consumer, KafkaException, TopicPartition

log = logging.getLogger("ingestion.consumer")

TP = tuple[str, int]
# How long a hole is re-read before it is accepted. Long: giving up loses what the broker
# stores late (a probe saw a hole fill 222 ms late, another not within 5 s on a starved broker),
# while a hole that never fills (a store that failed; nothing acknowledged) stalls one partition
# once for this long.
GAP_WAIT_S = 30.0
# A seek restarts the partition's fetch and voids the one in flight. librdkafka drops what it
# fetched before a seek (a version barrier per partition), so a message past the hole that
# comes after a seek is the re-read's own answer: the hole is still there, seek again (at most
# every MIN_RESEEK_S). Without any message, the loop seeks again after RESEEK_S, doubling up to
# MAX_RESEEK_S: a starved broker whose fetch takes longer than the interval is not voided for
# ever.
MIN_RESEEK_S = 0.05
RESEEK_S = 0.5
MAX_RESEEK_S = 4.0
DROP = -1  # `unexpected`: drop the message, the seek back is under way


class Counters(Protocol):
    late_batches: int
    skipped_offsets: int
    rewinds: int


@dataclass
class OffsetCounters:
    late_batches: int = 0  # holes that filled when re-read (the broker served them late)
    skipped_offsets: int = 0  # offsets of holes accepted after `wait_s` (never stored)
    rewinds: int = 0  # offsets that went back within one assignment


@dataclass
class OffsetTracker:
    """The offset each assigned partition's next message must have."""

    wait_s: float = GAP_WAIT_S
    reseek_s: float = RESEEK_S
    expected: dict[TP, int] = field(default_factory=dict)
    counters: Counters = field(default_factory=OffsetCounters)
    # partition → [the missing offset, when the hole was first seen, when last sought back,
    # the loop's current re-seek interval]
    _holes: dict[TP, list[float]] = field(default_factory=dict)

    @property
    def holes_open(self) -> bool:
        return bool(self._holes)

    def assigned(self, tp: TP, committed: int | None) -> None:
        """A (re)assigned partition: its fetch starts at the committed offset, if known."""
        self._holes.pop(tp, None)
        if committed is not None and committed >= 0:
            self.expected[tp] = committed
        else:
            self.expected.pop(tp, None)

    def on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Rebalance callback: expect the committed offset, or the log start without one.

        (`auto.offset.reset=earliest`: a partition without a committed offset starts there.)
        """
        try:
            committed = consumer.committed(partitions, timeout=5.0)
            for tp in committed:
                if tp.offset < 0:
                    low, _high = consumer.get_watermark_offsets(
                        TopicPartition(tp.topic, tp.partition), timeout=5.0
                    )
                    tp.offset = low
        except KafkaException as exc:
            log.warning("cannot read the committed offsets on assignment: %s", exc)
            committed = partitions  # unknown: the first message of each sets its offset
        log.info(
            "assigned %s",
            " ".join(f"{tp.topic}[{tp.partition}]@{tp.offset}" for tp in committed) or "nothing",
        )
        for tp in committed:
            self.assigned((tp.topic, tp.partition), tp.offset)

    def reread(self, consumer: Consumer, tp: TP, offset: int) -> bool:
        """Judge a message at an unexpected offset, seeking its partition back to a hole.

        True: drop it and the rest of its partition in hand; False: take it.
        """
        if offset > self.expected[tp] and tp not in self._holes:
            if self._below_log_start(consumer, tp, offset):
                return False  # retention deleted them: nothing to wait for
        back = self.unexpected(tp, offset)
        if back is None:
            return False
        if back == DROP:
            return True
        try:
            consumer.seek(TopicPartition(tp[0], tp[1], back))
        except KafkaException as exc:  # the hole stays open: the next message tries again
            log.warning("cannot seek %s[%d] to %d: %s", tp[0], tp[1], back, exc)
        return True

    def _below_log_start(self, consumer: Consumer, tp: TP, offset: int) -> bool:
        """True when the missing offsets are below the partition's log start (retention).

        A real Kafka deletes old segments: a consumer behind them jumps to the log start
        (`auto.offset.reset=earliest`), a hole no re-read fills. When the message came past
        the log start, only the offsets below it are gone: the expected offset moves to the
        log start and the rest is a hole like any other (False).
        """
        want = self.expected[tp]
        try:
            low, _high = consumer.get_watermark_offsets(
                TopicPartition(tp[0], tp[1]), timeout=2.0, cached=False
            )
        except KafkaException as exc:
            log.debug("no log start for %s[%d]: %s", tp[0], tp[1], exc)
            return False
        if low is None or want >= low:
            return False
        gone = min(offset, low)
        self.counters.skipped_offsets += gone - want
        log.error(
            "%s[%d]: offsets %d-%d are gone from the broker (its log starts at %d: retention "
            "deleted them before this group read them); going on from %d",
            tp[0], tp[1], want, gone - 1, low, gone,
        )  # fmt: skip
        self.expected[tp] = gone
        return offset <= low

    def retry_holes(self, consumer: Consumer, now: float | None = None) -> None:
        """Seek back again to each hole not sought for its interval (doubling each time).

        The processor's loop calls this while holes are open: no message may come to do it.
        """
        now = time.monotonic() if now is None else now
        for tp, hole in self._holes.items():
            if now - hole[2] >= hole[3]:
                hole[2] = now
                hole[3] = min(hole[3] * 2, MAX_RESEEK_S)
                try:
                    consumer.seek(TopicPartition(tp[0], tp[1], int(hole[0])))
                except KafkaException as exc:
                    log.warning("cannot seek %s[%d] to %d: %s", tp[0], tp[1], hole[0], exc)

    def revoked(self, tp: TP) -> None:
        self.expected.pop(tp, None)
        self._holes.pop(tp, None)

    def unexpected(self, tp: TP, offset: int, now: float | None = None) -> int | None:
        """Judge a message whose offset is not the expected one (`expected[tp]` is set).

        Returns the offset to seek back to (drop this message and the rest of its partition
        in hand), DROP (drop it, a seek back is under way), or None to take it (`expected` then
        moves past it).
        """
        want = self.expected[tp]
        now = time.monotonic() if now is None else now
        if offset < want:
            self.counters.rewinds += 1
            log.warning(
                "%s[%d]: offset went back from %d to %d (the broker reset the position or "
                "redelivered); re-reading, duplicates are dropped",
                tp[0], tp[1], want, offset,
            )  # fmt: skip
            self._holes.pop(tp, None)
            self.expected[tp] = offset + 1
            return None
        hole = self._holes.get(tp)
        if hole is None or hole[0] != want:
            self._holes[tp] = [want, now, now, self.reseek_s]
            log.warning(
                "%s[%d]: offsets %d-%d missing (next message at %d): the broker served a "
                "later batch first; re-reading from %d",
                tp[0], tp[1], want, offset - 1, offset, want,
            )  # fmt: skip
            return want
        if now - hole[1] < self.wait_s:
            if now - hole[2] < MIN_RESEEK_S:
                return DROP
            hole[2] = now  # the re-read answered without the hole: ask again
            return want
        del self._holes[tp]
        self.counters.skipped_offsets += offset - want
        log.error(
            "%s[%d]: offsets %d-%d still missing at the broker after %.0f s of re-reading; "
            "skipping them (an acknowledged event stored there would be lost)",
            tp[0], tp[1], want, offset - 1, self.wait_s,
        )  # fmt: skip
        self.expected[tp] = offset + 1
        return None

    def arrived(self, tp: TP, now: float | None = None) -> None:
        """The expected message came: if it closes a hole, say how late it was."""
        hole = self._holes.pop(tp, None)
        if hole is not None:
            self.counters.late_batches += 1
            now = time.monotonic() if now is None else now
            log.warning(
                "%s[%d]: offset %d arrived %.0f ms late on re-reading (nothing skipped)",
                tp[0], tp[1], int(hole[0]), (now - hole[1]) * 1000,
            )  # fmt: skip
