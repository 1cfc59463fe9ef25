"""One supervised background process: pidfile, log file, health check, graceful stop.

The stack manager starts each local service through `ManagedProcess`. A pidfile holds the pid and
the process start time, so a recycled pid is never mistaken for ours and a stale pidfile is cleaned.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from murmur.net import wait_until


class StackError(RuntimeError):
    """A local service could not be started, checked or stopped; the message says why."""


class StackConfigError(StackError):
    """The stack was asked for something that cannot work (unknown service, taken port)."""


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


# Popen objects of the services this process started: polling them reaps the dead ones, so a
# long-lived parent (a test session) never keeps zombies that look alive.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


def _reap() -> None:
    for pid, popen in list(_CHILDREN.items()):
        if popen.poll() is not None:
            del _CHILDREN[pid]


def _running(proc: psutil.Process) -> bool:
    try:
        return bool(proc.status() != psutil.STATUS_ZOMBIE)
    except psutil.Error:
        return False


def _wait_gone(procs: list[psutil.Process], timeout: float) -> list[psutil.Process]:
    """Wait until each process has exited (a zombie counts as exited); return the survivors."""
    alive = list(procs)

    def gone() -> bool:
        nonlocal alive
        _reap()
        alive = [proc for proc in alive if _running(proc)]
        return not alive

    with suppress(TimeoutError):
        wait_until(gone, timeout, "processes exiting", interval=0.05)
    return alive


def tail(path: Path, lines: int = 20) -> str:
    """The last `lines` lines of a log file ('' when it does not exist)."""
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 64_000))
            text = fh.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


@dataclass
class ManagedProcess:
    """A background process identified by its pidfile under `run_dir`."""

    name: str
    run_dir: Path
    log_dir: Path
    stop_signal: int = signal.SIGTERM
    grace_seconds: float = 15.0
    _pid_cache: int | None = field(default=None, repr=False)

    @property
    def pidfile(self) -> Path:
        return self.run_dir / f"{self.name}.pid"

    @property
    def logfile(self) -> Path:
        return self.log_dir / f"{self.name}.log"

    def pid(self) -> int | None:
        """Our live pid, or None; a pidfile whose process is gone (or was recycled) is removed."""
        _reap()
        try:
            record = json.loads(self.pidfile.read_text())
            pid, started = int(record["pid"]), float(record["create_time"])
        except (OSError, ValueError, KeyError, TypeError):
            if self.pidfile.exists():
                self.pidfile.unlink(missing_ok=True)
            return None
        try:
            proc = psutil.Process(pid)
            alive = proc.status() != psutil.STATUS_ZOMBIE and abs(proc.create_time() - started) < 1
        except psutil.Error:
            alive = False
        if not alive:
            self.pidfile.unlink(missing_ok=True)
            return None
        return pid

    def start(
        self,
        argv: Sequence[str],
        *,
        env: dict[str, str] | None = None,
        user: str | None = None,
        cwd: Path | None = None,
    ) -> int:
        """Spawn `argv` detached (own session), logging to the log file, and record its pid."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with self.logfile.open("ab") as log:
            log.write(f"\n--- {time.strftime('%Y-%m-%dT%H:%M:%S')} starting {self.name}\n".encode())
            log.flush()
            try:
                proc = subprocess.Popen(
                    list(argv),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    env=env,
                    user=user,
                    cwd=cwd,
                )
            except OSError as exc:
                raise StackError(f"{self.name}: cannot run {argv[0]}: {exc}") from exc
        _CHILDREN[proc.pid] = proc
        create_time = psutil.Process(proc.pid).create_time()
        tmp = self.pidfile.with_suffix(".tmp")
        tmp.write_text(json.dumps({"pid": proc.pid, "create_time": create_time}))
        tmp.replace(self.pidfile)
        return proc.pid

    def wait_healthy(self, check: Callable[[], bool], timeout: float) -> None:
        """Poll `check` until it passes; fail with the log tail if the process dies or times out."""
        exited = False

        def done() -> bool:
            nonlocal exited
            exited = self.pid() is None
            return exited or bool(check())

        try:
            wait_until(done, timeout, f"{self.name} becoming healthy", interval=0.2)
        except TimeoutError:
            self.stop()
            raise StackError(
                f"{self.name} did not become healthy within {timeout:.0f}s. Last lines of "
                f"{self.logfile}:\n{tail(self.logfile)}"
            ) from None
        if exited:
            raise StackError(
                f"{self.name} exited during start. Last lines of {self.logfile}:\n"
                f"{tail(self.logfile)}"
            )

    def stop(self) -> bool:
        """Stop gracefully (stop signal, then SIGKILL after the grace period). True if it ran."""
        pid = self.pid()
        if pid is None:
            return False
        try:
            proc = psutil.Process(pid)
            children = proc.children(recursive=True)
            proc.send_signal(self.stop_signal)
            for p in _wait_gone([proc], self.grace_seconds) + _wait_gone(children, 2.0):
                try:
                    p.kill()
                except psutil.Error:
                    pass
            _wait_gone([proc, *children], 5.0)
        except psutil.NoSuchProcess:
            pass
        self.pidfile.unlink(missing_ok=True)
        return True
