"""`murmur pipelines materialize`: runs `dagster asset materialize` as a subprocess; exit codes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _murmur(state: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
    return subprocess.run(
        [sys.executable, "-m", "murmur", "pipelines", *args],
        env={**env, "MURMUR_STATE_DIR": str(state)},
        capture_output=True,
        text=True,
        timeout=400,
        check=False,
    )


def test_a_selection_naming_no_asset_exits_2_with_dagsters_message(tmp_path: Path) -> None:
    done = _murmur(tmp_path, "materialize", "--select", "no_such_asset_xyz")
    assert done.returncode == 2, done.stdout[-2000:] + done.stderr[-2000:]
    assert "--select 'no_such_asset_xyz'" in done.stderr
    assert "no_such_asset_xyz" in done.stderr and "were selected" in done.stderr
    assert (tmp_path / "dagster").is_dir()  # DAGSTER_HOME defaults to the state dir


def test_materialize_without_an_action_is_a_usage_error(tmp_path: Path) -> None:
    done = _murmur(tmp_path)
    assert done.returncode == 2
    assert "required: ACTION" in done.stderr
