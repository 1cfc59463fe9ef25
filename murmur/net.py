"""Ports and waiting: the one free-port / wait-until helper for the stack, benchmarks and tests."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable


def free_port(host: str = "127.0.0.1") -> int:
    """Ask the kernel for a free TCP port on `host`."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1", timeout: float = 0.5) -> bool:
    """True when something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_until(check: Callable[[], bool], timeout: float, what: str, interval: float = 0.1) -> None:
    """Poll `check` until it returns True; raise TimeoutError naming `what` after `timeout` s.

    An exception from `check` counts as "not yet".
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check():
                return
        except Exception:  # any failure means "not ready yet"
            pass
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{what} did not happen within {timeout:.0f}s")
        time.sleep(interval)
