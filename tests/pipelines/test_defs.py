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


def test_the_refresh_runs_no_great_expectations_suite_and_their_own_job_does() -> None:
    # Regression: the 5-minute analytics_refresh ran the contacts suite (GX import 10-35 s)
    def checks(job: str) -> set[str]:
        graph = defs.resolve_job_def(job).asset_layer.asset_graph
        return {key.name for key in graph.asset_check_keys}

    refresh = checks("analytics_refresh")
    assert "no_erased_contact_left" in refresh
    assert not refresh & {"contacts_expectations", "events_expectations"}
    assert checks("analytics_expectations") == {"contacts_expectations", "events_expectations"}
