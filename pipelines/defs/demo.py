"""The demo's two refresh jobs, and the worker process `murmur demo` runs them in.

`demo_refresh_before_send` materializes replication, every dbt model of the `analytics` group
and the SQL segments with their membership; `demo_refresh_after_send` replication and the
campaign marts the summary and the dashboards read, with the models under them (selections in
`murmur.demo.dagster_runs`). Neither evaluates asset checks: no dbt tests and no Great
Expectations suites (the `analytics_refresh` and `analytics_expectations` jobs run those on
their schedules, and `make test` runs the full `dbt build` with its tests), so the demo spends
its minutes on what it shows. Both run on the in-process executor.

`python -m pipelines.defs.demo` is the worker: it imports Dagster and dbt (and parses the dbt
project if it changed) at once, loads the code location when the first job is asked for (the
seed has written the demo account by then, which the SQL segments' registration looks up),
then runs each job named on a line of stdin with `dagster.execute_job` on the instance of
`DAGSTER_HOME`, so the runs show in the Dagster UI like those of `dagster asset materialize`.
Both refreshes share one load of the code location instead of paying one per child process.
Dagster's log goes to stderr; `@@demo` lines on stdout say when it is ready and how each job
ended.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TextIO

import dagster as dg

from murmur.demo.dagster_runs import JOBS, MARK, SELECTIONS
from pipelines.defs.replication.assets import postgres_replication

PROJECT_DIR = Path(__file__).resolve().parents[2]
MODULE = "pipelines.definitions"
log = logging.getLogger("pipelines.demo")


def demo_job(stage: str) -> dg.UnresolvedAssetJobDefinition:
    """The stage's selection without asset checks, but the one replication evaluates inline.

    `postgres_replication` checks that no erased contact is left as it writes (a check spec
    of the asset itself, so it cannot run without it).
    """
    inline = dg.AssetSelection.checks(*postgres_replication.check_keys)
    return dg.define_asset_job(
        JOBS[stage],
        selection=dg.AssetSelection.from_string(SELECTIONS[stage]).without_checks() | inline,
        executor_def=dg.in_process_executor,
        description=f"`murmur demo`: the refresh {stage} the send, without asset checks.",
    )


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(jobs=[demo_job(stage) for stage in JOBS])


def _say(out: TextIO, text: str) -> None:
    out.write(f"{MARK} {text}\n")
    out.flush()


def warm_up() -> None:
    """Import what loading the code location and a dbt build import, and parse the project.

    Twice if needed: with the placeholder profile the code location reads its manifest from
    (when a project file changed), and with the real profile into the target dir the demo's
    builds use (`pipelines.lib.dbt.target`), so their `dbt build` parses partially instead of
    the whole project on a fresh state dir.
    """
    import dagster_dbt  # noqa: F401
    import dbt.adapters.clickhouse
    import dbt.config.runtime  # noqa: F401
    from dbt.cli.main import dbtRunner

    from murmur.analytics.dbt_profile import write_profiles_dir
    from murmur.settings import SettingsError, get_settings
    from pipelines.defs.dbt.project import dbt_project
    from pipelines.lib.dbt.target import locked_target

    project = dbt_project()
    try:
        settings = get_settings()
        with locked_target(settings) as target:
            if (target / "partial_parse.msgpack").exists():
                return
            args = ["parse", "--quiet", "--project-dir", str(project.project_dir)]
            args += ["--profiles-dir", str(write_profiles_dir(settings))]
            args += ["--target-path", str(target), "--no-send-anonymous-usage-stats"]
            result = dbtRunner().invoke(args)
    except SettingsError as exc:  # no ClickHouse configured: the build says so itself
        log.warning("no dbt parse ahead of the build: %s", exc)
        return
    if not result.success:  # the build parses then: slower, not wrong
        log.warning("dbt parse into %s failed: %s", target, result.exception)


def run_job(name: str) -> bool:
    """One run of a job of the code location, in this process, on the DAGSTER_HOME instance."""
    from dagster._core.definitions.reconstruct import ReconstructableRepository

    repo = ReconstructableRepository.for_module(MODULE, "defs", str(PROJECT_DIR))
    with dg.DagsterInstance.get() as instance:
        result = dg.execute_job(repo.get_reconstructable_job(name), instance=instance)
    return bool(result.success)


def serve(lines: Iterable[str], out: TextIO) -> int:
    started = time.perf_counter()
    warm_up()
    _say(out, f"warm {time.perf_counter() - started:.1f}")
    loaded = False
    for line in lines:
        name = line.strip()
        if not name:
            continue
        if name not in JOBS.values():
            _say(out, f"done {name} unknown")
            continue
        if not loaded:
            began = time.perf_counter()
            __import__(MODULE)
            loaded = True
            _say(out, f"loaded {time.perf_counter() - began:.1f}")
        try:
            ok = run_job(name)
        except Exception:  # logged; the demo names the log
            log.exception("%s failed", name)
            ok = False
        _say(out, f"done {name} {'ok' if ok else 'failed'}")
    return 0


if __name__ == "__main__":
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    sys.exit(serve(sys.stdin, sys.stdout))
