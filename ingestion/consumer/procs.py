"""`consume --procs N`: the events role in N processes of one consumer group.

One Python process stores at most what one core parses (the GIL), so the CLI starts N - 1
children running `--role events` in the same group; Kafka spreads the topic's partitions over
them. The parent runs its own roles as usual, forwards SIGTERM/SIGINT to the children (each
finishes and commits its batch in hand) and fails when a child fails. A child whose parent is
gone (SIGKILL) stops by itself the same graceful way.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
from collections.abc import Sequence

log = logging.getLogger("ingestion.consumer")
_PASSED = ("group", "topic", "dlq_topic", "batch_size", "batch_time_ms", "stats_interval")


def child_argv(values: dict[str, object]) -> list[str]:
    """The argv of one child: the events role with the parent's options (not its status file)."""
    argv = [sys.executable, "-m", "ingestion", "consume", "--role", "events"]
    for name in _PASSED:
        value = values.get(name)
        if value is not None:
            argv += [f"--{name.replace('_', '-')}", str(value)]
    return [*argv, "--parent-pid", str(os.getpid())]


class Children:
    """The child processes of one `consume --procs N`."""

    def __init__(self, argv: Sequence[str], count: int) -> None:
        self.procs = [subprocess.Popen(list(argv)) for _ in range(count)]
        self.failed = False

    def check(self, stopping: bool) -> bool:
        """False when a child exited on its own (the parent then stops them all)."""
        for proc in self.procs:
            code = proc.poll()
            if code is not None and not stopping:
                log.error("consumer child %d exited with code %d", proc.pid, code)
                self.failed = True
                return False
        return True

    def stop(self, timeout: float = 60.0) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                code = proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                log.error("consumer child %d did not stop within %.0fs: killed", proc.pid, timeout)
                proc.kill()
                code = proc.wait()
            if code not in (0, -15):
                self.failed = True


def watch_parent(parent_pid: int, stop: threading.Event, interval: float = 0.5) -> None:
    """Set `stop` once the parent process is gone (a child is re-parented then)."""

    def watch() -> None:
        while not stop.wait(interval):
            if os.getppid() != parent_pid:
                log.warning("parent %d is gone: stopping after the batch in hand", parent_pid)
                stop.set()
                return

    threading.Thread(target=watch, name="watch-parent", daemon=True).start()
