"""`murmur pipelines materialize [--select SELECTION]`: run Dagster assets from the command line.

`murmur pipelines sync-segments` registers the SQL segments of `dbt_project/models/segments/` in
the app database (what the code location does at load), reporting each model it skipped.

`murmur` imports no app, so this runs `dagster asset materialize -m pipelines.definitions` as a
subprocess (in the project directory, `DAGSTER_HOME` under the state dir unless set) and streams
its output. A selection that names no asset exits 2 with Dagster's message; a failed run 1.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from murmur.settings import get_settings

PROJECT_DIR = Path(__file__).resolve().parents[2]
_SELECTION_ERRORS = ("DagsterInvalidSubsetError", "DagsterInvalidAssetSelectionError")


def register(sub: Any) -> None:
    pipelines = sub.add_parser("pipelines", help="the Dagster assets (analytics, replication)")
    psub = pipelines.add_subparsers(dest="pipelines_command", metavar="ACTION")
    psub.required = True
    mat = psub.add_parser("materialize", help="materialize assets now, streaming progress")
    mat.add_argument(
        "--select",
        default="*",
        help="Dagster asset selection, e.g. 'campaign_performance' or 'group:replication+' "
        "(default: every asset)",
    )
    mat.add_argument("--partition", help="partition key for partitioned assets (a day)")
    mat.set_defaults(func=_materialize)
    sync = psub.add_parser(
        "sync-segments",
        help="register the dbt models of models/segments as `dbt` segments (retire removed ones)",
    )
    sync.set_defaults(func=_sync_segments)


def _dagster() -> str | None:
    beside = Path(sys.executable).parent / "dagster"
    return str(beside) if beside.exists() else shutil.which("dagster")


def _error_line(lines: list[str]) -> str:
    for line in reversed(lines):
        if any(name in line for name in _SELECTION_ERRORS):
            return line.split(":", 1)[-1].strip()
    return ""


def _materialize(args: argparse.Namespace) -> int:
    settings = get_settings()
    exe = _dagster()
    if exe is None:
        print("murmur: error: the `dagster` command is not installed", file=sys.stderr)
        return 2
    if not (PROJECT_DIR / "pipelines" / "definitions.py").exists():
        print(f"murmur: error: no pipelines/definitions.py under {PROJECT_DIR}", file=sys.stderr)
        return 2
    env = dict(os.environ)
    if not env.get("DAGSTER_HOME"):
        home = settings.state_dir.resolve() / "dagster"
        home.mkdir(parents=True, exist_ok=True)
        env["DAGSTER_HOME"] = str(home)
    cmd = [exe, "asset", "materialize", "-m", "pipelines.definitions", "-d", str(PROJECT_DIR)]
    cmd += ["--select", args.select]
    if args.partition:
        cmd += ["--partition", args.partition]
    print(f"materializing {args.select!r} (DAGSTER_HOME={env['DAGSTER_HOME']}) ...", flush=True)
    lines: list[str] = []
    with subprocess.Popen(
        cmd, cwd=PROJECT_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as proc:
        for line in proc.stdout or ():
            sys.stdout.write(line)
            sys.stdout.flush()
            lines.append(line.rstrip())
            del lines[:-200]  # only the tail is needed for the summary
        code = proc.wait()
    if code == 0:
        print(f"materialized {args.select!r}")
        return 0
    reason = _error_line(lines)
    if reason:
        print(f"murmur: error: --select {args.select!r}: {reason}", file=sys.stderr)
        return 2
    print(f"murmur: materializing {args.select!r} failed (dagster exit {code})", file=sys.stderr)
    return 1


_MANIFEST = "from pipelines.defs.dbt.project import dbt_project; print(dbt_project().manifest_path)"


def _sync_segments(args: argparse.Namespace) -> int:
    """Parse the dbt project if it changed (as the code location does), then sync; 1 if skips."""
    import json

    from murmur.db.engine import make_engine
    from murmur.domain.dbt_segments import segment_models, sync_dbt_segments

    url = get_settings().require("postgres_url")
    path = os.pathsep.join(p for p in (str(PROJECT_DIR), os.environ.get("PYTHONPATH")) if p)
    done = subprocess.run(
        [sys.executable, "-c", _MANIFEST],
        cwd=PROJECT_DIR,
        env={**os.environ, "PYTHONPATH": path},
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        print(f"murmur: error: parsing dbt_project failed: {tail[0]}", file=sys.stderr)
        return 1
    manifest = Path(done.stdout.strip().splitlines()[-1])
    models = segment_models(json.loads(manifest.read_text()))
    engine = make_engine(url, pool_size=1, max_overflow=0)
    try:
        with engine.begin() as conn:
            report = sync_dbt_segments(conn, models)
    finally:
        engine.dispose()
    print(f"{len(models)} segment model(s) in {manifest}: {report.summary()}")
    for problem in report.errors:
        print(f"murmur: skipped {problem}", file=sys.stderr)
    return 1 if report.errors else 0
