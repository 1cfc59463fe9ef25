import subprocess
import sys
from pathlib import Path

import dagster as dg

from pipelines.definitions import defs


def test_definitions_load_and_expose_the_roundtrip_asset() -> None:
    keys = {key.to_user_string() for key in defs.resolve_asset_graph().get_all_asset_keys()}
    assert "service_roundtrip" in keys
    assert isinstance(defs, dg.Definitions)


def test_the_workspace_file_loads_the_code_location() -> None:
    repo = Path(__file__).resolve().parents[2]
    dagster = Path(sys.executable).with_name("dagster")
    done = subprocess.run(
        [str(dagster), "definitions", "validate", "-w", "workspace.yaml"],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Validation successful for code location murmuration" in done.stderr + done.stdout
