"""`murmur demo`: a realistic campaign through the whole platform; `murmur demo seed`: its data.

`murmur demo` (what `make demo` runs) starts the local stack, seeds the demo account, lets
Dagster build the analytics, sends the newsletter through the sensor-launched send job, waits
for the ESP simulator's events to come back through Kafka into ClickHouse, refreshes the
analytics and prints a summary from the marts, then the URLs to explore. The steps live in
`murmur.demo.run`. `murmur demo seed` only writes the demo data (also for benchmarks: any size).
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from murmur.cli import UsageError
from murmur.settings import get_settings


def _sizes(parser: Any) -> None:
    parser.add_argument(
        "--contacts", type=int, default=20_000, help="distinct contacts (default 20000)"
    )
    parser.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    parser.add_argument("--reset", action="store_true", help="delete the demo account's data first")


def register(sub: Any) -> None:
    demo = sub.add_parser("demo", help="run a realistic campaign through the whole platform")
    _sizes(demo)
    demo.add_argument(
        "--no-stack",
        action="store_true",
        help="use the services already running (or configured) instead of `murmur stack up`",
    )
    demo.add_argument(
        "--no-dagster",
        action="store_true",
        help="do not start the Dagster service: the send runs as `python -m sender` processes",
    )
    demo.add_argument(
        "--timeout", type=float, default=1800.0, help="seconds each waiting step may take"
    )
    demo.set_defaults(func=_run)
    dsub = demo.add_subparsers(dest="demo_command", metavar="ACTION")
    seed = dsub.add_parser("seed", help="create or refresh the demo data set (idempotent)")
    _sizes(seed)
    seed.set_defaults(func=_seed)


def _check(args: argparse.Namespace) -> None:
    if args.contacts < 1:
        raise UsageError(f"--contacts must be at least 1, got {args.contacts}")


def _seed(args: argparse.Namespace) -> int:
    from murmur.cli.contacts import ProgressBar
    from murmur.demo.run import _say_seed
    from murmur.demo.seed import SeedOptions, seed

    _check(args)
    settings = get_settings()
    started = time.perf_counter()
    bar = ProgressBar()
    try:
        result = seed(
            settings,
            SeedOptions(args.contacts, args.seed, args.reset),
            say=print,
            progress=bar,
        )
    finally:
        bar.close()
    _say_seed(result, print)
    print(f"seeded in {time.perf_counter() - started:.1f}s")
    return 0


def _run(args: argparse.Namespace) -> int:
    from murmur.demo.run import DemoOptions, run_demo, say_next

    _check(args)
    settings = get_settings()
    options = DemoOptions(
        contacts=args.contacts,
        seed=args.seed,
        reset=args.reset,
        start_stack=not args.no_stack,
        use_dagster=not args.no_dagster,
        timeout=args.timeout,
    )
    started = time.perf_counter()
    print(f"Murmuration demo: {args.contacts:,} contacts, seed {args.seed}", flush=True)
    try:
        run_demo(settings, options, say=lambda m: print(m, flush=True))
    except (RuntimeError, TimeoutError) as exc:
        print(f"demo FAILED: {exc}", flush=True)
        return 1
    print(f"demo finished in {time.perf_counter() - started:.0f}s", flush=True)
    say_next(settings, print)
    return 0
