"""Counters of one processor, logged as one line every interval (and to a status file)."""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from confluent_kafka import Consumer, KafkaException, TopicPartition

log = logging.getLogger("ingestion.consumer")
_STATUS_LOCK = threading.Lock()  # both roles of one process share the file
# every key exists from the start: the store thread adds to them while the loop reports
PHASES = ("poll", "validate", "enrich", "check", "wait", "insert", "store", "dlq", "commit")


@dataclass
class Stats:
    role: str
    consumed: int = 0
    written: int = 0
    duplicates: int = 0
    unmatched: int = 0
    dead_lettered: int = 0
    batches: int = 0
    retries: int = 0
    # holes in a partition's offsets (see strategies/offsets.py): re-read and found, given up
    late_batches: int = 0
    skipped_offsets: int = 0
    rewinds: int = 0
    lag: int | None = None
    rate_per_s: float = 0.0
    # seconds per phase (poll, validate, enrich, check, insert, dlq, commit): CPU of the
    # thread doing it (`cpu_s`) and elapsed time (`wall_s`, which includes waiting for a server)
    cpu_s: dict[str, float] = field(default_factory=lambda: dict.fromkeys(PHASES, 0.0))
    wall_s: dict[str, float] = field(default_factory=lambda: dict.fromkeys(PHASES, 0.0))
    started: float = field(default_factory=time.monotonic)
    _last_time: float = field(default_factory=time.monotonic)
    _last_consumed: int = 0

    def report(self, consumer: Consumer, status_file: Path | None) -> None:
        now = time.monotonic()
        elapsed = max(now - self._last_time, 1e-6)
        self.rate_per_s = (self.consumed - self._last_consumed) / elapsed
        self._last_time, self._last_consumed = now, self.consumed
        self.lag = consumer_lag(consumer)
        log.info(
            "%s: consumed=%d written=%d duplicates=%d unmatched=%d dlq=%d batches=%d "
            "retries=%d late_batches=%d skipped_offsets=%d rewinds=%d lag=%s rate=%.0f/s",
            self.role,
            self.consumed,
            self.written,
            self.duplicates,
            self.unmatched,
            self.dead_lettered,
            self.batches,
            self.retries,
            self.late_batches,
            self.skipped_offsets,
            self.rewinds,
            "?" if self.lag is None else self.lag,
            self.rate_per_s,
        )
        if any(self.cpu_s.values()):
            log.info(
                "%s: phase seconds (cpu/wall): %s",
                self.role,
                " ".join(
                    f"{name}={cpu:.2f}/{self.wall_s.get(name, 0.0):.2f}"
                    for name, cpu in self.cpu_s.items()
                ),
            )
        if status_file is not None:
            write_status(status_file, self)


class Phases:
    """Adds each phase's thread CPU and elapsed seconds to two dicts (one call per batch)."""

    def __init__(self, cpu_s: dict[str, float], wall_s: dict[str, float]) -> None:
        self.cpu_s = cpu_s
        self.wall_s = wall_s
        self._cpu = time.thread_time()
        self._wall = time.perf_counter()

    def start(self) -> None:
        self._cpu = time.thread_time()
        self._wall = time.perf_counter()

    def done(self, name: str) -> None:
        """Charge the time since the last `start`/`done` to `name`."""
        cpu, wall = time.thread_time(), time.perf_counter()
        self.cpu_s[name] = self.cpu_s.get(name, 0.0) + cpu - self._cpu
        self.wall_s[name] = self.wall_s.get(name, 0.0) + wall - self._wall
        self._cpu, self._wall = cpu, wall


def consumer_lag(consumer: Consumer) -> int | None:
    """Messages behind the high watermark over this member's assignment (None if unknown)."""
    try:
        assignment = consumer.assignment()
        if not assignment:
            return 0
        total = 0
        for tp in consumer.position(assignment):
            low, high = consumer.get_watermark_offsets(
                TopicPartition(tp.topic, tp.partition), timeout=1.0
            )
            position = tp.offset if tp.offset >= 0 else low
            total += max(high - position, 0)
        return total
    except KafkaException:
        return None


def write_status(path: Path, stats: Stats) -> None:
    """Atomically replace `path` with this role's counters (one key per role)."""
    values = {k: v for k, v in asdict(stats).items() if not k.startswith("_") and k != "started"}
    with _STATUS_LOCK:
        try:
            current = json.loads(path.read_text())
        except (OSError, ValueError):
            current = {}
        if not isinstance(current, dict) or current.get("pid") != os.getpid():
            current = {"pid": os.getpid()}
        current[stats.role] = {**values, "updated_at": time.time()}
        tmp = path.with_name(f"{path.name}.tmp")
        tmp.write_text(json.dumps(current))
        tmp.replace(path)
