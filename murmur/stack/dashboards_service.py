"""The `dashboards` stack service: the Streamlit app (`dashboards/streamlit_app.py`).

It reads the stack's service URLs from `stack.json` (environment variables win) when a browser
session starts, so it may start before or after the others. `streamlit_argv` is shared with
`murmur dashboards` (the same app in the foreground). Imported by murmur.stack.services.
"""

from __future__ import annotations

import http.client
import os
import sys
from pathlib import Path

from murmur.stack.services import HOST, Service

PROJECT_DIR = Path(__file__).resolve().parents[2]
APP = PROJECT_DIR / "dashboards" / "streamlit_app.py"


def streamlit_argv(host: str, port: int) -> list[str]:
    """`streamlit run` of the app: headless, no telemetry, errors without tracebacks."""
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(APP),
        "--server.address",
        host,
        "--server.port",
        str(port),
        "--server.headless",
        "true",
        "--server.fileWatcherType",
        "none",
        "--server.runOnSave",
        "false",
        "--browser.gatherUsageStats",
        "false",
        "--client.showErrorDetails",
        "none",
        "--client.toolbarMode",
        "viewer",
        "--global.developmentMode",
        "false",
    ]


def streamlit_environ(state_dir: Path) -> dict[str, str]:
    path = os.pathsep.join(p for p in (str(PROJECT_DIR), os.environ.get("PYTHONPATH")) if p)
    return {**os.environ, "MURMUR_STATE_DIR": str(state_dir), "PYTHONPATH": path}


class Dashboards(Service):
    """`streamlit run dashboards/streamlit_app.py` on the stack's services."""

    name: str = "dashboards"
    start_timeout = 120.0

    def argv(self) -> list[str]:
        return streamlit_argv(HOST, self.port)

    def environ(self) -> dict[str, str]:
        return streamlit_environ(self.state_dir)

    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def urls(self) -> dict[str, str]:
        return {"dashboards_url": self.url()}

    def healthy(self) -> bool:
        conn = http.client.HTTPConnection(HOST, self.port, timeout=3)
        try:
            conn.request("GET", "/_stcore/health")
            resp = conn.getresponse()
            return resp.status == 200 and resp.read().strip() == b"ok"
        finally:
            conn.close()
