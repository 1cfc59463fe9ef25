"""``python -m murmur.chserver``: the local ClickHouse HTTP server over chdb."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from murmur.chserver.config import ServerConfig
from murmur.chserver.server import RunningServer, StartupError, serve


def parse_args(argv: list[str] | None = None) -> ServerConfig:
    p = argparse.ArgumentParser(
        prog="python -m murmur.chserver",
        description="ClickHouse HTTP interface over an embedded chdb data directory.",
    )
    p.add_argument("--data-dir", required=True, type=Path, help="chdb data directory")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8123, help="0 picks a free port")
    p.add_argument("--user", default=None, help="require this user (default: accept any)")
    p.add_argument("--password", default="")
    p.add_argument("--log-file", type=Path, default=None, help="JSON-lines log (default stderr)")
    p.add_argument("--query-timeout", type=float, default=300.0, help="seconds; 0 = none")
    p.add_argument("--max-body-bytes", type=int, default=2 * 1024**3)
    a = p.parse_args(argv)
    return ServerConfig(
        data_dir=a.data_dir,
        host=a.host,
        port=a.port,
        user=a.user,
        password=a.password,
        log_file=a.log_file,
        query_timeout=a.query_timeout,
        max_body_bytes=a.max_body_bytes,
    )


def _announce(server: RunningServer) -> None:
    line = {"event": "ready", "url": server.url, "port": server.port}
    sys.stdout.write(json.dumps(line) + "\n")
    sys.stdout.flush()


def main(argv: list[str] | None = None) -> int:
    config = parse_args(argv)
    try:
        return serve(config, on_ready=_announce)
    except StartupError as exc:
        sys.stderr.write(f"murmur.chserver: {exc}\n")
        return 2


if __name__ == "__main__":
    sys.exit(main())
