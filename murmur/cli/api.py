"""`murmur api serve`: run the REST API in the foreground with uvicorn.

`served_api()` runs the same command as a child process on a free port (the demo's walkthrough
talks to it over HTTP).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from murmur.settings import Settings, get_settings

HOST = "127.0.0.1"
SERVICE_FIELDS = (
    "postgres_url",
    "dagster_postgres_url",
    "clickhouse_url",
    "kafka_bootstrap_servers",
    "smtp_url",
)


def port_number(value: str) -> int:
    """An argparse type: a TCP port 1-65535 (uvicorn would silently wrap 99999 to another)."""
    try:
        port = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {value!r}") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port must be between 1 and 65535, got {port}")
    return port


def register(sub: Any) -> None:
    api = sub.add_parser("api", help="the REST API (/api/v1)")
    asub = api.add_subparsers(dest="api_command", metavar="ACTION")
    asub.required = True
    serve = asub.add_parser("serve", help="serve the API in the foreground (Ctrl-C stops)")
    serve.add_argument("--host", help="bind address (default: MURMUR_API_HOST or 127.0.0.1)")
    serve.add_argument(
        "--port", type=port_number, help="port 1-65535 (default: MURMUR_API_PORT or 8000)"
    )
    serve.set_defaults(func=_serve)


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from murmur.api.app import create_app

    settings = get_settings()
    app = create_app(settings)
    host = args.host or settings.api_host
    port = args.port or settings.api_port
    print(f"Murmuration API on http://{host}:{port}/api/v1/docs", flush=True)
    uvicorn.run(app, host=host, port=port, log_level="info")
    return 0


@dataclass(frozen=True)
class ServedApi:
    base_url: str  # http://127.0.0.1:PORT/api/v1
    pid: int
    log: Path


def _child_env(settings: Settings) -> dict[str, str]:
    """The environment of the child: ours, plus the settings' resolved service URLs."""
    env = dict(os.environ)
    resolved = settings.resolved()
    env["MURMUR_STATE_DIR"] = str(settings.state_dir)
    env["MURMUR_CLICKHOUSE_DATABASE"] = settings.clickhouse_database
    for field in SERVICE_FIELDS:
        value = getattr(resolved, field)
        if value:
            env[f"MURMUR_{field.upper()}"] = str(value)
    return env


@contextmanager
def served_api(settings: Settings, timeout: float = 60.0) -> Iterator[ServedApi]:
    """Run `murmur api serve` on a free port until the block ends; its output goes to a log."""
    import httpx

    from murmur.net import free_port, wait_until

    port = free_port(HOST)
    log = settings.state_dir / "logs" / "demo-api.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "murmur", "api", "serve", "--host", HOST, "--port", str(port)]
    with log.open("ab") as out:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=_child_env(settings),
        )
    base = f"http://{HOST}:{port}/api/v1"
    try:

        def up() -> bool:
            if proc.poll() is not None:
                return True
            return httpx.get(f"{base}/openapi.json", timeout=2).status_code == 200

        try:
            wait_until(up, timeout, f"`murmur api serve` answering on port {port}", interval=0.2)
        except TimeoutError as exc:
            raise RuntimeError(f"{exc}; see {log}") from None
        if proc.poll() is not None:
            raise RuntimeError(f"`murmur api serve` exited with code {proc.returncode}; see {log}")
        yield ServedApi(base, proc.pid, log)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
