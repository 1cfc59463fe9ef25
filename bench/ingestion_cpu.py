"""CPU accounting per process group for `bench_ingestion.py`: where the 2 cores' budget goes.

Each group is a root pid and all its descendants (uvicorn's workers, the consumer's children),
sampled with psutil (user + system seconds) at phase boundaries.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import psutil


def group_cpu(pid: int, descendants: bool = True) -> float:
    """User + system CPU seconds of `pid` and its live descendants (0 when it is gone)."""
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)] if descendants else [root]
    except psutil.Error:
        return 0.0
    total = 0.0
    for proc in procs:
        try:
            times = proc.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
    return total


class CpuMeter:
    """CPU seconds per named process group between two `mark` calls."""

    def __init__(self, roots: Mapping[str, int | None]) -> None:
        self.roots = {name: pid for name, pid in roots.items() if pid is not None}
        self.roots.setdefault("bench", os.getpid())
        self._last = self._sample()

    def _sample(self) -> dict[str, float]:
        # the bench process alone: the services and apps it started are groups of their own
        return {name: group_cpu(pid, name != "bench") for name, pid in self.roots.items()}

    def mark(self) -> dict[str, float]:
        """CPU seconds per group since the previous mark."""
        now = self._sample()
        spent = {name: max(now[name] - self._last.get(name, 0.0), 0.0) for name in now}
        self._last = now
        return spent


def describe(spent: Mapping[str, float], wall_s: float, units: int, unit: str) -> str:
    """One line: seconds per group, cores in use, µs per event (or per request)."""
    total = sum(spent.values())
    parts = ", ".join(
        f"{name} {seconds:.1f} s ({seconds / max(units, 1) * 1e6:.0f} µs/{unit})"
        for name, seconds in sorted(spent.items(), key=lambda kv: -kv[1])
    )
    cores = total / max(wall_s, 1e-9)
    return f"cpu: {parts}; total {total:.1f} s over {wall_s:.1f} s wall = {cores:.2f} cores"
