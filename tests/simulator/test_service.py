"""The `simulator` stack service: local stack only, started on request, config errors exit 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from murmur.stack.manager import ALL_SERVICES, STACK_UP_SERVICES
from murmur.stack.services import SERVICES


def test_the_simulator_is_a_stack_service_started_by_stack_up_only() -> None:
    assert "simulator" in STACK_UP_SERVICES and "simulator" not in ALL_SERVICES
    assert STACK_UP_SERVICES.index("simulator") > STACK_UP_SERVICES.index("ingestion")
    assert STACK_UP_SERVICES[-1] == "dagster"
    service = SERVICES["simulator"](Path("/state"), 0)
    argv = service.argv()
    assert argv[1:3] == ["-m", "simulator"] and "/state/maildir" in argv
    assert service.urls() == {}


def test_without_a_receiver_or_with_a_bad_config_it_exits_2(tmp_path: Path) -> None:
    run = [sys.executable, "-m", "simulator", "--state-dir", str(tmp_path)]
    done = subprocess.run(run, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 2
    assert "no --ingestion-url and no running ingestion receiver" in done.stderr
    bad = tmp_path / "sim.json"
    bad.write_text('{"rates": {"open": 1.5}}')
    run += ["--ingestion-url", "http://127.0.0.1:9", "--config", str(bad)]
    done = subprocess.run(run, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 2
    assert "rates.open must be a probability in [0, 1], got 1.5" in done.stderr
