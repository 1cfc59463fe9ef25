"""`python -m ingestion`: `serve` runs the webhook/tracking receiver, `consume` the consumer."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Callable
from typing import cast

USAGE = "usage: python -m ingestion {serve [--host H] [--port P] | consume ...}"


def _serve(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m ingestion serve")
    parser.add_argument("--host", help="bind address (default MURMUR_INGESTION_HOST)")
    parser.add_argument("--port", type=int, help="port (default MURMUR_INGESTION_PORT)")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    args = parser.parse_args(argv)

    import uvicorn

    from ingestion.receiver.app import create_app
    from ingestion.receiver.protocol import WebhookHttpProtocol
    from murmur.settings import SettingsError, get_settings

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        settings = get_settings()
        settings.require("kafka_bootstrap_servers")
        app = create_app(settings)
    except SettingsError as exc:
        print(f"ingestion serve: {exc}", file=sys.stderr)  # noqa: T201
        return 2
    host = args.host or settings.ingestion_host
    port = args.port if args.port is not None else settings.ingestion_port
    target: object = app
    if args.workers > 1:  # each worker process builds its own app (and producer)
        target = "ingestion.receiver.app:app_from_env"
    uvicorn.run(
        target,  # type: ignore[arg-type]
        factory=args.workers > 1,
        workers=args.workers,
        host=host,
        port=port,
        loop="uvloop",
        http=WebhookHttpProtocol,  # uvicorn's httptools protocol, one write per webhook answer
        access_log=False,
        log_level="info",
        lifespan="on",
    )
    return 0


def _consume(argv: list[str]) -> int:
    try:
        module = importlib.import_module("ingestion.consumer.cli")
    except ImportError as exc:
        print(f"ingestion consume: the consumer is not available here ({exc})", file=sys.stderr)  # noqa: T201
        return 2
    return cast(Callable[[list[str]], int], module.main)(argv)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help"):
        print(USAGE, file=sys.stderr if not args else sys.stdout)
        return 2 if not args else 0
    command, rest = args[0], args[1:]
    if command == "serve":
        return _serve(rest)
    if command == "consume":
        return _consume(rest)
    print(f"unknown command {command!r}\n{USAGE}", file=sys.stderr)  # noqa: T201
    return 2


if __name__ == "__main__":
    sys.exit(main())
