"""`murmur dashboards`: run the Streamlit dashboards in the foreground (Ctrl-C stops).

The app reads the configured services (`MURMUR_*`, else the running local stack) when a browser
session starts; `murmur stack up` runs the same app as the service `dashboards`.
"""

from __future__ import annotations

import argparse
import subprocess
from typing import Any

from murmur.cli.api import port_number
from murmur.settings import get_settings


def register(sub: Any) -> None:
    dash = sub.add_parser("dashboards", help="run the Streamlit dashboards in the foreground")
    dash.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    dash.add_argument("--port", type=port_number, default=8501, help="port (default 8501)")
    dash.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from murmur.stack.dashboards_service import streamlit_argv, streamlit_environ

    settings = get_settings()
    argv = streamlit_argv(args.host, args.port)
    print(f"dashboards on http://{args.host}:{args.port} (Ctrl-C stops)", flush=True)
    proc = subprocess.Popen(argv, env=streamlit_environ(settings.state_dir.resolve()))
    try:
        return proc.wait()
    except KeyboardInterrupt:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        raise
