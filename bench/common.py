"""What every benchmark shares: interleaved repetitions, medians, targets and the exit code.

A benchmark measures a baseline and a subject in the same run: both are warmed up the same way,
then run alternately (the order flips every repetition, so drift and neighbours' load hit both
alike), and the median of the repetitions is compared with its target. `report` prints one line
per target and returns the process exit code: 0 when every target is met, 1 otherwise.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_REPS = 3


def add_reps(parser: argparse.ArgumentParser, default: int = DEFAULT_REPS) -> None:
    parser.add_argument(
        "--reps", type=int, default=default, help=f"measured repetitions (default {default})"
    )


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


@dataclass
class Runs:
    """Seconds per measured repetition of each side."""

    baseline: list[float]
    subject: list[float]

    @property
    def ratio(self) -> float:
        """Median subject time / median baseline time (> 1: the subject is slower)."""
        return median(self.subject) / median(self.baseline)


def interleave(
    baseline: Callable[[], float],
    subject: Callable[[], float],
    reps: int,
    warmup: int = 1,
    progress: Callable[[str], None] | None = None,
) -> Runs:
    """Run each side `warmup` times unmeasured, then `reps` measured times, alternating.

    Each callable runs one repetition and returns its seconds.
    """
    say = progress or (lambda line: print(line, flush=True))
    for _ in range(warmup):
        baseline()
        subject()
    runs = Runs([], [])
    for rep in range(reps):
        order = [("baseline", baseline, runs.baseline), ("subject", subject, runs.subject)]
        for name, fn, into in order if rep % 2 == 0 else reversed(order):
            into.append(fn())
            say(f"  rep {rep + 1}/{reps} {name}: {into[-1]:.3f} s")
    return runs


@dataclass(frozen=True)
class Target:
    """A measured value and its bound: `value <= limit` (at_most) or `value >= limit`."""

    name: str
    value: float
    limit: float
    at_most: bool = True
    unit: str = ""

    @property
    def met(self) -> bool:
        return self.value <= self.limit if self.at_most else self.value >= self.limit

    def line(self) -> str:
        sign = "<=" if self.at_most else ">="
        verdict = "met" if self.met else "MISSED"
        bound = f"{sign} {self.limit:g}{self.unit}"
        return f"{self.name}: {self.value:.2f}{self.unit} (target {bound}) {verdict}"


def report(title: str, targets: Sequence[Target]) -> int:
    """Print each target's verdict; the exit code: 0 if all are met, else 1."""
    print(f"{title}:")
    for target in targets:
        print(f"  {target.line()}")
    missed = [t.name for t in targets if not t.met]
    print(f"RESULT {'MISSED: ' + ', '.join(missed) if missed else 'all targets met'}", flush=True)
    return 1 if missed else 0


def ensure_repo_on_path() -> None:
    """Let `python bench/bench_x.py` import the project without installing it."""
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
