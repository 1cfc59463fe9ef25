"""The `dashboards` stack service: started on request, healthy, its URL in `stack status`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from murmur.stack.manager import ALL_SERVICES, STACK_UP_SERVICES, Stack

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_the_dashboards_service_starts_with_the_stack_and_reports_its_url(
    tmp_path: Path,
) -> None:
    assert "dashboards" in STACK_UP_SERVICES and "dashboards" not in ALL_SERVICES
    stack = Stack(tmp_path, ["dashboards"])
    try:
        [status] = stack.up()
        assert status.healthy
        url = status.urls["dashboards_url"]
        assert httpx.get(f"{url}/_stcore/health", timeout=10).text == "ok"
        env = {**os.environ, "MURMUR_STATE_DIR": str(tmp_path)}
        done = subprocess.run(
            [sys.executable, "-m", "murmur", "stack", "status", "--json"],
            env=env, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        listed = {s["name"]: s for s in json.loads(done.stdout)}
        assert listed["dashboards"]["urls"] == {"dashboards_url": url}
        assert listed["dashboards"]["healthy"] is True
    finally:
        stack.down()
    assert Stack(tmp_path, ["dashboards"]).status()[0].pid is None
