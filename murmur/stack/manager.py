"""`murmur stack up | down | status | env | logs`: the embedded local stack under one state dir."""

from __future__ import annotations

import fcntl
import json
import shlex
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psutil

from murmur.net import free_port, wait_until
from murmur.settings import Settings
from murmur.stack.process import StackConfigError, StackError, port_in_use, tail
from murmur.stack.services import ON_REQUEST, SERVICES, Service

# What a `Stack` runs by default (tests start these one by one); `murmur stack up` adds the
# services started on request (`dagster`), last.
ALL_SERVICES: tuple[str, ...] = tuple(n for n in SERVICES if n not in ON_REQUEST)
STACK_UP_SERVICES: tuple[str, ...] = tuple(SERVICES)


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    port: int
    pid: int | None
    healthy: bool
    urls: dict[str, str]


def _who_has_port(port: int) -> str:
    try:
        for conn in psutil.net_connections(kind="tcp"):
            if conn.laddr and conn.laddr.port == port and conn.status == psutil.CONN_LISTEN:
                if conn.pid:
                    return f"pid {conn.pid} ({psutil.Process(conn.pid).name()})"
    except (psutil.Error, OSError):
        pass
    return "another process"


class Stack:
    """The local services under `state_dir`; `stack.json` there records their ports and URLs."""

    def __init__(
        self,
        state_dir: Path,
        services: Sequence[str] = ALL_SERVICES,
        ports: dict[str, int] | None = None,
    ) -> None:
        unknown = set(services) - set(SERVICES)
        if unknown:
            raise StackConfigError(f"unknown service(s) {sorted(unknown)}; known: {list(SERVICES)}")
        self.state_dir = state_dir.resolve()
        self.names = [n for n in SERVICES if n in services]
        self.ports = dict(ports or {})

    @property
    def stack_file(self) -> Path:
        return self.state_dir / "stack.json"

    def _record(self) -> dict[str, dict[str, int]]:
        try:
            data = json.loads(self.stack_file.read_text())
            return {str(k): dict(v) for k, v in data.get("services", {}).items()}
        except (OSError, ValueError, AttributeError):
            return {}

    def _write_record(self, services: dict[str, dict[str, int]]) -> None:
        urls: dict[str, str] = {}
        for name, info in services.items():
            urls.update(SERVICES[name](self.state_dir, info["port"]).urls())
        tmp = self.stack_file.with_suffix(".tmp")
        tmp.write_text(json.dumps({"services": services, "urls": urls}, indent=2))
        tmp.replace(self.stack_file)

    def service(self, name: str) -> Service:
        recorded = self._record().get(name, {}).get("port")
        port = self.ports.get(name) or recorded or 0
        return SERVICES[name](self.state_dir, int(port))

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        with (self.state_dir / ".stack.lock").open("w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def up(self, say: Callable[[str], None] = lambda _: None) -> list[ServiceStatus]:
        """Start every service that is not running; running healthy ones are left alone."""
        with self._locked():
            record = self._record()
            for name in self.names:
                svc = self.service(name)
                pid = svc.proc.pid()
                if pid is not None and svc.port:
                    self._check_running(svc, pid, say)
                    continue
                pid = self._start(svc, say)
                record[name] = {"port": svc.port, "pid": pid}
                self._write_record(record)
                say(f"{name}: healthy (pid {pid}) log {svc.proc.logfile}")
            return self.status()

    def _check_running(self, svc: Service, pid: int, say: Callable[[str], None]) -> None:
        """A running service is left alone; one that stays unhealthy is reported, never killed."""
        exited = False

        def done() -> bool:
            nonlocal exited
            exited = svc.proc.pid() is None
            return exited or _safe(svc.healthy)

        try:
            wait_until(done, svc.start_timeout, f"{svc.name} answering", interval=0.5)
        except TimeoutError:
            raise StackError(
                f"{svc.name} (pid {pid}) is running but not healthy after "
                f"{svc.start_timeout:.0f}s; see `murmur stack logs {svc.name}`. It was left "
                "running: `murmur stack down` then `murmur stack up` restarts it."
            ) from None
        if exited:
            raise StackError(f"{svc.name} (pid {pid}) exited while checking its health")
        say(f"{svc.name}: already running (pid {pid}, port {svc.port})")

    def _start(self, svc: Service, say: Callable[[str], None]) -> int:
        """Start on the configured port, or a free one (retried once if someone takes it)."""
        name = svc.name
        if name in self.ports:
            if port_in_use(svc.port):
                raise StackConfigError(
                    f"{name}: configured port {svc.port} is taken by "
                    f"{_who_has_port(svc.port)}; free it or choose another port "
                    f"(MURMUR_STACK_{name.upper()}_PORT)."
                )
        elif not svc.port or port_in_use(svc.port):
            svc.port = free_port()
        say(f"{name}: starting on port {svc.port} ...")
        try:
            return svc.start()
        except StackError:
            if name in self.ports or not port_in_use(svc.port):
                raise
            svc.port = free_port()  # lost a race for the free port: one more try
            say(f"{name}: port taken meanwhile, retrying on port {svc.port} ...")
            return svc.start()

    def down(self, say: Callable[[str], None] = lambda _: None) -> None:
        """Stop every service, newest first, and forget their pids (Postgres data stays)."""
        with self._locked():
            for name in reversed(STACK_UP_SERVICES):
                svc = self.service(name)
                if svc.proc.stop():
                    say(f"{name}: stopped")
            record = self._record()
            if record:
                self.stack_file.unlink(missing_ok=True)

    def status_pids(self) -> dict[str, int | None]:
        """Each service's pid when it runs (no health check)."""
        return {name: self.service(name).proc.pid() for name in self.names}

    def status(self) -> list[ServiceStatus]:
        result = []
        for name in self.names:
            svc = self.service(name)
            pid = svc.proc.pid()
            healthy = pid is not None and bool(svc.port) and _safe(svc.healthy)
            result.append(ServiceStatus(name, svc.port, pid, healthy, svc.urls() if pid else {}))
        return result

    def env_lines(self, statuses: list[ServiceStatus] | None = None) -> list[str]:
        """`export MURMUR_...=` lines for the running services, for `eval "$(murmur stack env)"`."""
        lines = [f"export MURMUR_STATE_DIR={shlex.quote(str(self.state_dir))}"]
        for st in self.status() if statuses is None else statuses:
            for field, url in st.urls.items():
                lines.append(f"export MURMUR_{field.upper()}={shlex.quote(url)}")
            if st.pid:
                for var, value in self.service(st.name).exports().items():
                    lines.append(f"export {var}={shlex.quote(value)}")
        return lines

    def logs(self, name: str, lines: int = 50) -> str:
        svc = self.service(name)
        return tail(svc.proc.logfile, lines)


def _safe(check: Callable[[], bool]) -> bool:
    try:
        return bool(check())
    except Exception:
        return False


def configured_ports(settings: Settings) -> dict[str, int]:
    """Ports fixed through `MURMUR_STACK_<SERVICE>_PORT` (settings `stack_<service>_port`)."""
    ports: dict[str, int] = {}
    for name in STACK_UP_SERVICES:
        port = getattr(settings, f"stack_{name}_port", None)
        if port is not None:
            ports[name] = int(port)
    return ports
