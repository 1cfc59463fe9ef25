"""Fixtures for the local ClickHouse server contract suites.

`ch_url` points at ``MURMUR_CLICKHOUSE_URL`` when set (so the same suites run against a real
ClickHouse); otherwise at the session's local stack server (tests/conftest.py). `start_server`
runs a private server for the lifecycle tests that restart it.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import clickhouse_connect
import pytest
from clickhouse_connect.driver.client import Client

from murmur.clickhouse import parse_url
from murmur.net import free_port, wait_until

REPO = Path(__file__).resolve().parents[3]


def ping(url: str, timeout: float = 1.0) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/ping", timeout=timeout) as resp:
            return bool(resp.read() == b"Ok.\n")
    except OSError:
        return False


@dataclass
class ServerProcess:
    proc: subprocess.Popen[bytes]
    url: str
    data_dir: Path
    log_file: Path

    def stop(self, timeout: float = 60) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)


def start_server(data_dir: Path, log_file: Path, *extra: str) -> ServerProcess:
    port = free_port()
    cmd = [sys.executable, "-m", "murmur.chserver", "--data-dir", str(data_dir)]
    cmd += ["--host", "127.0.0.1", "--port", str(port), "--log-file", str(log_file), *extra]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: proc.poll() is not None or ping(url), 60, "chserver /ping", 0.05)
    except TimeoutError:
        proc.kill()
        raise
    if proc.poll() is not None:
        err = proc.stderr.read().decode() if proc.stderr else ""
        raise RuntimeError(f"chserver exited with {proc.returncode}: {err}")
    return ServerProcess(proc, url, data_dir, log_file)


@pytest.fixture(scope="session")
def ch_url(clickhouse_url: str) -> str:
    """The session's ClickHouse: the local stack's server, or `MURMUR_CLICKHOUSE_URL` when set."""
    return clickhouse_url.rstrip("/")


def client_kwargs(url: str) -> dict[str, object]:
    """clickhouse-connect arguments for `url`, parsed by `murmur.clickhouse` (no database)."""
    return dict(parse_url(url).client_kwargs())


@pytest.fixture(scope="session")
def make_client(ch_url: str) -> Iterator[Callable[..., Client]]:
    clients: list[Client] = []

    def make(**kwargs: object) -> Client:
        client = clickhouse_connect.get_client(**{**client_kwargs(ch_url), **kwargs})
        clients.append(client)
        return client

    yield make
    for c in clients:
        c.close()


@pytest.fixture
def client(make_client: Callable[..., Client]) -> Client:
    return make_client()


@pytest.fixture
def database(make_client: Callable[..., Client]) -> Iterator[str]:
    """A fresh database per test (the chdb `default` database is an Overlay, not Atomic)."""
    admin = make_client()
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin.command(f"CREATE DATABASE {name}")
    yield name
    admin.command(f"DROP DATABASE IF EXISTS {name} SYNC")
