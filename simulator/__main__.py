"""`python -m simulator --maildir DIR --ingestion-url URL [--seed N] [--config FILE]`.

Defaults come from the local stack: the Maildir of its SMTP sink, the receiver's URL from
`<state>/stack.json`, the SendGrid key from `<state>/keys/`, and `MURMUR_SIMULATOR_SEED` /
`MURMUR_SIMULATOR_CONFIG` (a JSON file of rates and delays, see `simulator.config`). Exit 2 on
a usage or configuration error.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from murmur.stack.keys import SENDGRID_PRIVATE_KEY, keys_dir
from simulator.config import Config, load_overrides
from simulator.engine import Simulator


def _stack_url(state_dir: Path, field: str) -> str | None:
    try:
        urls = json.loads((state_dir / "stack.json").read_text()).get("urls", {})
    except (OSError, ValueError, AttributeError):
        return None
    value = urls.get(field)
    return str(value) if value else None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m simulator", description=__doc__)
    parser.add_argument("--state-dir", type=Path, help="the stack's state dir (MURMUR_STATE_DIR)")
    parser.add_argument("--maildir", type=Path, help="the SMTP sink's Maildir")
    parser.add_argument("--ingestion-url", help="the ingestion receiver's base URL")
    parser.add_argument("--seed", type=int, help="seed of the outcomes (MURMUR_SIMULATOR_SEED)")
    parser.add_argument("--config", type=Path, help="JSON rates/delays (MURMUR_SIMULATOR_CONFIG)")
    parser.add_argument("--time-scale", type=float, help="multiply every delay (0 = at once)")
    return parser


def config_from_args(args: argparse.Namespace) -> Config:
    state = Path(args.state_dir or os.environ.get("MURMUR_STATE_DIR") or ".murmur").resolve()
    url = args.ingestion_url or _stack_url(state, "ingestion_url")
    if not url:
        raise ValueError(
            f"no --ingestion-url and no running ingestion receiver in {state}/stack.json "
            "(`murmur stack up` starts one)"
        )
    seed_env = os.environ.get("MURMUR_SIMULATOR_SEED")
    try:
        seed = args.seed if args.seed is not None else int(seed_env or 7)
    except ValueError:
        raise ValueError(f"MURMUR_SIMULATOR_SEED must be an integer, got {seed_env!r}") from None
    config = Config(
        maildir=Path(args.maildir or state / "maildir"),
        state_dir=state / "simulator",
        ingestion_url=url,
        sendgrid_key_path=keys_dir(state) / SENDGRID_PRIVATE_KEY,
        seed=seed,
    )
    path = args.config or os.environ.get("MURMUR_SIMULATOR_CONFIG")
    if path:
        config = load_overrides(config, Path(path))
    if args.time_scale is not None:
        if args.time_scale < 0:
            raise ValueError("--time-scale must be >= 0")
        config = Config(**{**config.__dict__, "time_scale": args.time_scale})
    return config


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per request
    try:
        config = config_from_args(args)
        sim = Simulator(config)
    except ValueError as exc:
        print(f"simulator: error: {exc}", file=sys.stderr)  # noqa: T201
        return 2

    async def go() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, sim.stopping.set)
        await sim.run()

    asyncio.run(go())
    return 0


if __name__ == "__main__":
    sys.exit(main())
