"""CPU accounting per process group for `bench_ingestion.py`: where the 2 cores' budget goes.

Each group is a root pid and all its descendants (uvicorn's workers, the consumer's children),
sampled with psutil (user + system seconds) at phase boundaries. Of each group, the part spent
by librdkafka's own threads (named `rdk:*`: the Kafka client's broker I/O, compression and
protocol work, outside Python) is given apart, where Linux names threads in /proc.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import NamedTuple

import psutil

KAFKA_THREADS = "rdk:"  # librdkafka names its threads rdk:main, rdk:broker<N>, ...


class Cpu(NamedTuple):
    total: float  # user + system seconds of every thread
    kafka: float  # of which librdkafka's threads


def _thread_name(pid: int, tid: int) -> str:
    try:
        with open(f"/proc/{pid}/task/{tid}/comm") as comm:
            return comm.read().strip()
    except OSError:
        return ""


def group_cpu(pid: int, descendants: bool = True) -> Cpu:
    """CPU seconds of `pid` and its live descendants (0 when it is gone), librdkafka's apart."""
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)] if descendants else [root]
    except psutil.Error:
        return Cpu(0.0, 0.0)
    total = kafka = 0.0
    for proc in procs:
        try:
            times = proc.cpu_times()
            threads = proc.threads()
        except psutil.Error:
            continue
        total += times.user + times.system
        for thread in threads:
            if _thread_name(proc.pid, thread.id).startswith(KAFKA_THREADS):
                kafka += thread.user_time + thread.system_time
    return Cpu(total, kafka)


class CpuMeter:
    """CPU seconds per named process group between two `mark` calls."""

    def __init__(self, roots: Mapping[str, int | None]) -> None:
        self.roots = {name: pid for name, pid in roots.items() if pid is not None}
        self.roots.setdefault("bench", os.getpid())
        self._last = self._sample()

    def _sample(self) -> dict[str, Cpu]:
        # the bench process alone: the services and apps it started are groups of their own
        return {name: group_cpu(pid, name != "bench") for name, pid in self.roots.items()}

    def mark(self) -> dict[str, Cpu]:
        """CPU seconds per group since the previous mark (a thread that ended is not counted)."""
        now = self._sample()
        spent = {}
        for name, cpu in now.items():
            last = self._last.get(name, Cpu(0.0, 0.0))
            spent[name] = Cpu(max(cpu.total - last.total, 0.0), max(cpu.kafka - last.kafka, 0.0))
        self._last = now
        return spent


def describe(spent: Mapping[str, Cpu], wall_s: float, units: int, unit: str) -> str:
    """One line: seconds per group, cores in use, µs per event (or per request).

    A group whose librdkafka threads worked shows their share too: `(21 µs/event, kafka
    client 4)`.
    """
    per = 1e6 / max(units, 1)
    total = sum(cpu.total for cpu in spent.values())
    parts = []
    for name, cpu in sorted(spent.items(), key=lambda kv: -kv[1].total):
        client = f", kafka client {cpu.kafka * per:.0f}" if cpu.kafka >= 0.05 else ""
        parts.append(f"{name} {cpu.total:.1f} s ({cpu.total * per:.0f} µs/{unit}{client})")
    cores = total / max(wall_s, 1e-9)
    return (
        f"cpu: {', '.join(parts)}; total {total:.1f} s over {wall_s:.1f} s wall = {cores:.2f} cores"
    )
