"""The `dagster` stack service: `dagster dev` (webserver + daemon) on the pipelines workspace.

`DAGSTER_HOME` is `<state>/dagster`, whose `dagster.yaml` points run, event-log and schedule
storage at `MURMUR_DAGSTER_POSTGRES_URL` when set, else at the stack's Postgres `dagster`
database when the stack runs Postgres, else SQLite files under `DAGSTER_HOME`. The code
location gets the stack's service URLs (environment variables win), so schedules and sensors
fire against the local stack. Imported by murmur.stack.services (it subclasses `Service`).
"""

from __future__ import annotations

import http.client
import json
import os
import sys
from pathlib import Path

from murmur.stack.services import HOST, Service

PROJECT_DIR = Path(__file__).resolve().parents[2]
# The run queue of the local instance (`run_coordinator` in its dagster.yaml). Dagster's
# defaults look at the queue every 5 s and launch the runs found one after the other, each
# launch waiting until its run worker process is up (9-10 s measured on a busy 2-core
# machine), so a campaign's second shard started that much later than its first. Here: a
# look every 2 s (each look opens a few Postgres connections: idle, 2 s costs about 3 % of a
# core more than 5 s across Dagster and Postgres, 1 s twice that), launches in parallel
# threads, and one criteria-segment run at a time (each run worker imports the whole code
# location: the three a fresh demo queues at once took the two cores from the send).
DEQUEUE_INTERVAL = 2
RUN_QUEUE = [
    "run_coordinator:",
    "  module: dagster._core.run_coordinator",
    "  class: QueuedRunCoordinator",
    "  config:",
    f"    dequeue_interval_seconds: {DEQUEUE_INTERVAL}",
    "    dequeue_use_threads: true",
    "    dequeue_num_workers: 4",
]


class Dagster(Service):
    """`dagster dev -w workspace.yaml`: the UI, the daemon and the code server (one group)."""

    name: str = "dagster"
    start_timeout = 240.0  # loads the dbt manifest and the definitions on a busy 2-core machine

    @property
    def home(self) -> Path:
        return self.state_dir / "dagster"

    def _stack_urls(self) -> dict[str, str]:
        try:
            urls = json.loads((self.state_dir / "stack.json").read_text()).get("urls", {})
        except (OSError, ValueError):
            return {}
        return {str(k): str(v) for k, v in urls.items() if k != "dagster_url"}

    def storage_url(self) -> str | None:
        """Where Dagster keeps runs, events and schedules: a Postgres URL, or None (SQLite)."""
        return os.environ.get("MURMUR_DAGSTER_POSTGRES_URL") or self._stack_urls().get(
            "dagster_postgres_url"
        )

    def prepare(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        lines = ["telemetry:", "  enabled: false", *RUN_QUEUE]
        url = self.storage_url()
        if url:
            lines += ["storage:", "  postgres:", f"    postgres_url: {json.dumps(url)}"]
        tmp = self.home / "dagster.yaml.tmp"
        tmp.write_text("\n".join(lines) + "\n")
        tmp.replace(self.home / "dagster.yaml")

    def argv(self) -> list[str]:
        exe = Path(sys.executable).parent / "dagster"
        workspace = PROJECT_DIR / "workspace.yaml"
        return [str(exe), "dev", "-w", str(workspace), "-h", HOST, "-p", str(self.port)]

    def environ(self) -> dict[str, str]:
        defaults = {f"MURMUR_{k.upper()}": v for k, v in self._stack_urls().items()}
        path = os.pathsep.join(p for p in (str(PROJECT_DIR), os.environ.get("PYTHONPATH")) if p)
        return {
            **defaults,
            **os.environ,
            "MURMUR_STATE_DIR": str(self.state_dir),
            "DAGSTER_HOME": str(self.home),
            "PYTHONPATH": path,
        }

    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def urls(self) -> dict[str, str]:
        return {"dagster_url": self.url()}

    def healthy(self) -> bool:
        conn = http.client.HTTPConnection(HOST, self.port, timeout=3)
        try:
            conn.request("GET", "/server_info")
            return conn.getresponse().status == 200
        finally:
            conn.close()
