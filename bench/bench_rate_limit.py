"""The shared rate limiter: per-message overhead, and the accuracy of one limit over two processes.

`.venv/bin/python bench/bench_rate_limit.py [--rate 500] [--duration 60]`

Overhead: one worker acquires a token of an ESP bucket and of a mailbox-provider bucket (both
Postgres-backed, limits far above what it can use, so it never waits) for every message, against
a baseline loop that does the same work without the limiter, in the same run (interleaved, median
of repetitions); target ≤ 20 µs per message. Accuracy: two worker processes, four threads each,
acquire from ONE `--rate`/s bucket for `--duration` s from a common start; the tokens they got
in that window, divided by its length, must be within ±5% of the limit. Uses MURMUR_POSTGRES_URL
when set, else a throwaway local Postgres (bench_send's `database()`).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_send import database
from bench.common import Target, interleave, median, report
from murmur.db.engine import make_engine
from sender.ratelimit import Limit, PgBuckets, RateLimiter

TARGET_OVERHEAD_US = 20.0
TARGET_ACCURACY = 0.05


def overhead(url: str, messages: int, reps: int) -> float:
    """Median µs the limiter adds per message (two buckets, never waiting)."""
    engine = make_engine(url, pool_size=2, max_overflow=2)
    tag = uuid.uuid4().hex[:8]
    limits = {
        f"esp:{tag}": Limit(f"esp:{tag}", 1e7),
        f"provider:{tag}": Limit(f"provider:{tag}", 1e7),
    }
    limiter = RateLimiter(PgBuckets(engine), limits)
    buckets = tuple(limits)
    sink: list[str] = []

    def work(_: str, __: str) -> None:
        sink.append("x")  # the per-message work both sides do
        if len(sink) > 1000:
            sink.clear()

    def baseline() -> float:
        start = time.perf_counter()
        for _ in range(messages):
            work(*buckets)
        return time.perf_counter() - start

    def subject() -> float:
        start = time.perf_counter()
        for _ in range(messages):
            limiter.acquire(*buckets)
            work(*buckets)
        return time.perf_counter() - start

    runs = interleave(baseline, subject, reps)
    engine.dispose()
    print(f"  leases: {limiter.stats.leases} for {limiter.spent()} tokens")
    return float(median(runs.subject) - median(runs.baseline)) / messages * 1e6


def worker(url: str, bucket: str, rate: float, duration: float) -> None:
    """One process: 4 threads acquiring from the shared bucket; prints its JSON counts.

    It says `ready` once connected, then reads the common start time from stdin.
    """
    engine = make_engine(url, pool_size=4, max_overflow=2)
    limiter = RateLimiter(PgBuckets(engine), {bucket: Limit(bucket, rate)})
    limiter.buckets.ensure(limiter.limits[bucket])
    print("ready", flush=True)
    start = float(sys.stdin.readline())
    counts = {"in_window": 0, "total": 0}
    lock = threading.Lock()
    end = start + duration

    def run() -> None:
        got = 0
        inside = 0
        while time.time() < start:
            time.sleep(0.001)
        while True:
            limiter.acquire(bucket)
            now = time.time()
            if now >= end:
                break
            got += 1
            inside += now >= start
        with lock:
            counts["total"] += got
            counts["in_window"] += inside

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stats = limiter.stats
    print(json.dumps({**counts, "leases": stats.leases, "waits": stats.waits}), flush=True)
    engine.dispose()


def accuracy(url: str, rate: float, duration: float) -> tuple[float, list[dict[str, float]]]:
    bucket = f"provider:bench-{uuid.uuid4().hex[:8]}"
    argv = [sys.executable, __file__, "--worker", url, bucket, str(rate), str(duration)]
    procs = [
        subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    for proc in procs:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    start = time.time() + 0.5
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write(f"{start}\n")
        proc.stdin.flush()
    results = []
    for proc in procs:
        out, _ = proc.communicate(timeout=duration + 120)
        if proc.returncode:
            raise SystemExit(f"worker failed ({proc.returncode}): {out}")
        results.append(json.loads(out.strip().splitlines()[-1]))
    got = sum(r["in_window"] for r in results)
    return got / duration, results


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        url, bucket, rate, duration = sys.argv[2:6]
        worker(url, bucket, float(rate), float(duration))
        return 0
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=float, default=500.0)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    with database() as url:
        print("limiter overhead (2 buckets per message, never waiting):")
        per_message = overhead(url, args.messages, args.reps)
        print(f"two workers at one {args.rate:g}/s limit for {args.duration:g} s:")
        measured, results = accuracy(url, args.rate, args.duration)
    for i, r in enumerate(results):
        per_lease = r["total"] / max(1, r["leases"])
        print(
            f"  worker {i}: {r['in_window']} tokens in the window, {r['leases']} leases"
            f" ({per_lease:.1f} tokens each), {r['waits']} waits"
        )
    print(f"  measured {measured:.1f}/s for a {args.rate:g}/s limit")
    error = abs(measured / args.rate - 1)
    code: int = report(
        "bench_rate_limit",
        [
            Target("limiter overhead per message", per_message, TARGET_OVERHEAD_US, unit=" µs"),
            Target(
                f"accuracy of {args.rate:g}/s over {args.duration:g} s, two processes",
                error * 100,
                TARGET_ACCURACY * 100,
                unit="%",
            ),
        ],
    )
    return code


if __name__ == "__main__":
    sys.exit(main())
