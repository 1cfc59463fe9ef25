"""The dbt project as Dagster sees it: a cached `DbtProject` whose manifest is prepared at load.

`dbt parse` needs a profile but no server, so parsing uses a placeholder profile under the
project's (gitignored) target dir; runs pass the real profile, written from the settings, with
`--profiles-dir`. No network is needed: the project has no packages.
"""

from __future__ import annotations

import fcntl
import functools
import shutil
import sys
from pathlib import Path

from dagster_dbt import DbtProject

from murmur.analytics.dbt_profile import PROFILE

DBT_DIR = Path(__file__).resolve().parents[3] / "dbt_project"
PARSE_PROFILES_DIR = DBT_DIR / "target" / "parse-profile"

_PARSE_PROFILE = f"""\
# Written by pipelines/defs/dbt/project.py for `dbt parse` only (it does not connect).
{PROFILE}:
  target: parse
  outputs:
    parse:
      type: clickhouse
      driver: http
      host: localhost
      port: 8123
      schema: murmur
"""


@functools.cache
def dbt_project() -> DbtProject:
    """The project, its `target/manifest.json` parsed again when a project file changed."""
    PARSE_PROFILES_DIR.mkdir(parents=True, exist_ok=True)
    profile = PARSE_PROFILES_DIR / "profiles.yml"
    if not profile.exists() or profile.read_text() != _PARSE_PROFILE:
        profile.write_text(_PARSE_PROFILE)
    project = DbtProject(project_dir=DBT_DIR, profiles_dir=PARSE_PROFILES_DIR)
    with open(PARSE_PROFILES_DIR / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one parse at a time (code server, run workers)
        if _stale(project.manifest_path):
            parse(project)
    return project


def _stale(manifest: Path) -> bool:
    """True when the manifest is missing or older than a file of the project."""
    if not manifest.exists():
        return True
    built = manifest.stat().st_mtime
    sources = [DBT_DIR / "dbt_project.yml"]
    for folder in ("models", "macros", "seeds", "tests"):
        sources.extend(p for p in (DBT_DIR / folder).rglob("*") if p.is_file())
    return any(p.stat().st_mtime > built for p in sources)


def parse(project: DbtProject) -> None:
    """`dbt parse` in-process (no server, no network), writing target/manifest.json."""
    from dbt.cli.main import dbtRunner

    result = dbtRunner().invoke(
        [
            "parse",
            "--quiet",
            "--project-dir",
            str(project.project_dir),
            "--profiles-dir",
            str(project.profiles_dir),
            "--target-path",
            str(project.project_dir / project.target_path),
            "--no-send-anonymous-usage-stats",
        ]
    )
    if not result.success or not project.manifest_path.exists():
        raise RuntimeError(f"dbt parse of {project.project_dir} failed: {result.exception}")


def dbt_executable() -> str:
    """The `dbt` of this Python environment (a venv's bin may not be on PATH), else PATH's."""
    beside = Path(sys.executable).with_name("dbt")
    return str(beside) if beside.exists() else shutil.which("dbt") or "dbt"
