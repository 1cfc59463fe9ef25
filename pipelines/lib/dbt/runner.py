"""dbt run in the Dagster step's own process (`dbtRunner`), not as a `dbt` subprocess.

`DbtCliResource.cli()` pays, before the first model runs, a `dbt --version` subprocess, an
in-process adapter set-up that loads every macro of dbt and dbt-clickhouse, then the `dbt build`
subprocess itself (a Python start and dbt's imports once more): three dbt start-ups per step,
several seconds of a 5-minute refresh. The step process has imported dbt already (dagster-dbt
does), so one in-process invocation costs only dbt's own set-up (profile, partial parse).

dbt runs in a worker thread and sends its node results through a queue, so the step yields
Dagster events (materializations, check results) while dbt still runs, as dagster-dbt's stream
does; the events are converted by dagster-dbt itself (`DbtCoreCliEventMessage`). dbt cannot be
cancelled from outside: an interrupted step waits for the invocation to end before it releases
the target dir's lock (pipelines/lib/dbt/target.py), so two builds never interleave.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DbtProject
from dagster_dbt.asset_utils import get_manifest_and_translator_from_dbt_assets
from dagster_dbt.core.dbt_cli_event import DbtCoreCliEventMessage

from pipelines.lib.dbt import fast_events

log = logging.getLogger(__name__)

# the events a step turns into Dagster events (dagster-dbt's result events)
RESULT_EVENTS = frozenset({"LogSeedResult", "LogModelResult", "LogSnapshotResult", "LogTestResult"})
# flags of every invocation: no network (usage stats), no colour codes in the compute logs
COMMON_FLAGS = ("--no-send-anonymous-usage-stats", "--no-use-colors")


def _frame_module_source() -> str:
    """`BehaviorFlagRendered._default_source` without `inspect.stack()`: the same module name.

    dbt evaluates it for every behavior flag of every adapter it registers (as a default it
    computes even when the flag names its source), and `inspect.stack()` reads the source
    lines of every frame of the call stack, which in a Dagster step is deep: measured as 9% of
    the dbt thread's CPU in a refresh. Walking the frames' globals names the same module.
    """
    import sys

    frame: Any = sys._getframe(1)
    while frame is not None:
        name = frame.f_globals.get("__name__")
        if name and name != "dbt_common.behavior_flags":
            return str(name)
        frame = frame.f_back
    return "Unknown"


_DBT_DEFAULT_SOURCE: list[Any] = []  # dbt's own `_default_source`, once replaced


def cheap_behavior_flag_source() -> None:
    """Install `_frame_module_source` in dbt (idempotent); dbt's own is kept for the tests."""
    from dbt_common.behavior_flags import BehaviorFlagRendered

    current = BehaviorFlagRendered.__dict__.get("_default_source")
    if not isinstance(current, staticmethod):
        # a dbt-common whose internals moved: run with its own (slower) lookup, not fail
        log.debug("dbt-common has no static _default_source; its flag lookup is kept")
        return
    if current.__func__ is not _frame_module_source:
        _DBT_DEFAULT_SOURCE[:] = [current]
        BehaviorFlagRendered._default_source = staticmethod(_frame_module_source)  # type: ignore[method-assign]


def import_dbt_in_background() -> threading.Thread:
    """Start importing dbt's CLI (`dbt.cli.main`) in a thread; the thread.

    The code location does not import it, and the import costs 0.6-1.5 s of a refresh: started
    first in the step, it overlaps the step's look-ups in ClickHouse (`refresh_args`), which
    mostly wait for the server. The invocation's own import then finds the module loaded (or
    waits for the thread to finish it); an import error surfaces there, not here.
    """

    def load() -> None:
        try:
            import dbt.cli.main  # noqa: F401
        except BaseException as exc:  # reported by the invocation's own import
            log.debug("dbt import in the background failed: %s", exc)

    thread = threading.Thread(target=load, name="dbt-import", daemon=True)
    thread.start()
    return thread


class DbtRunError(Exception):
    """A dbt invocation that failed (a node error, a failed test, a bad argument)."""


@dataclass
class DbtInvocation:
    """One in-process dbt command; iterate `events()` to run it."""

    args: list[str]
    # where to write run_results.json when the args say --no-write-json (dbt_args does): dbt
    # would also write manifest.json, megabytes of every macro, on every run
    results_path: Path | None = None
    # where dbt's JSON schemas and decoded partial parse are kept between processes
    # (pipelines/lib/dbt/startup.py); None: dbt computes them as usual
    cache_dir: Path | None = None
    errors: list[str] = field(default_factory=list)
    result: Any = None  # dbt's RunExecutionResult once done (None when dbt raised)

    def events(self) -> Iterator[dict[str, Any]]:
        """Run it: its node results and errors as JSON-log dicts as they come; raises on failure."""
        from dbt.cli.main import dbtRunner, dbtRunnerResult
        from dbt_common.events.base_types import EventMsg
        from dbt_common.events.functions import msg_to_dict

        cheap_behavior_flag_source()
        fast_events.install()
        if self.cache_dir is not None:
            from pipelines.lib.dbt import startup

            startup.install(self.cache_dir)
        inbox: queue.SimpleQueue[dict[str, Any] | dbtRunnerResult] = queue.SimpleQueue()

        def callback(msg: EventMsg) -> None:
            if msg.info.name in RESULT_EVENTS or msg.info.level == "error":
                inbox.put(msg_to_dict(msg))

        def work() -> None:
            try:
                done = dbtRunner(callbacks=[callback]).invoke(self.args)
            except BaseException as exc:  # reported by the consumer, never lost in the thread
                done = dbtRunnerResult(success=False, exception=exc)
            inbox.put(done)

        thread = threading.Thread(target=work, name="dbt", daemon=True)
        thread.start()
        try:
            while True:
                item = inbox.get()
                if isinstance(item, dbtRunnerResult):
                    break
                if item["info"]["level"] == "error":
                    self.errors.append(str(item["info"]["msg"]))
                yield item
        finally:
            thread.join()  # even when the consumer stops early: dbt must be done
        self.result = item.result
        write = getattr(item.result, "write", None)  # a RunExecutionResult's
        if self.results_path is not None and callable(write):
            write(str(self.results_path))
        if not item.success:
            reasons = "\n".join(self.errors) or repr(item.exception)
            raise DbtRunError(f"dbt {' '.join(self.args[:1])} failed:\n{reasons}")


def dbt_args(
    command: str,
    *args: str,
    project_dir: Path,
    profiles_dir: Path,
    target: Path,
) -> list[str]:
    """The arguments of an in-process `dbt <command>`: artifacts and logs in `target`.

    Without dbt's JSON artifacts: pass `results_path=target / "run_results.json"` to the
    `DbtInvocation` to have the run results (partial_parse.msgpack is written regardless).
    """
    return [
        command,
        *args,
        "--project-dir", str(project_dir),
        "--profiles-dir", str(profiles_dir),
        "--target-path", str(target),
        "--log-path", str(target),
        "--no-write-json",
        *COMMON_FLAGS,
    ]  # fmt: skip


def stream_asset_events(
    context: dg.AssetExecutionContext, invocation: DbtInvocation, target: Path
) -> Iterator[Any]:
    """Run `invocation` and yield its Dagster events (Output, AssetCheckResult, ...)."""
    manifest, translator, project = get_manifest_and_translator_from_dbt_assets(
        [context.assets_def]
    )
    for raw in invocation.events():
        event = DbtCoreCliEventMessage(raw_event=raw, event_history_metadata={})
        yield from event.to_default_asset_events(
            manifest=manifest,
            dagster_dbt_translator=translator,
            context=context,
            target_path=target,
            project=project,
        )


def asset_project(context: dg.AssetExecutionContext) -> DbtProject | None:
    """The dbt project the step's `@dbt_assets` were built from."""
    return get_manifest_and_translator_from_dbt_assets([context.assets_def])[2]


def selected_unique_ids(context: dg.AssetExecutionContext) -> set[str]:
    """The dbt unique ids of the step's selected assets and asset checks."""
    from dagster_dbt.asset_utils import DAGSTER_DBT_UNIQUE_ID_METADATA_KEY as UID

    assets_def = context.assets_def
    ids = {assets_def.get_asset_spec(k).metadata[UID] for k in context.selected_asset_keys}
    for key in context.selected_asset_check_keys:
        metadata = assets_def.get_spec_for_check_key(key).metadata or {}
        if UID in metadata:
            ids.add(metadata[UID])
    return ids


def dagster_selection(context: dg.AssetExecutionContext) -> tuple[list[str], Path | None]:
    """The selection arguments `DbtCliResource.cli(context=...)` would pass for this step.

    With the project dir to run in when dagster-dbt moved the selection into a selector file
    of a temporary copy of the project (over 200 nodes named), else None.
    """
    from dagster_dbt.asset_utils import get_updated_cli_invocation_params_for_context

    manifest, translator, project = get_manifest_and_translator_from_dbt_assets(
        [context.assets_def]
    )
    params = get_updated_cli_invocation_params_for_context(
        context=context, manifest=manifest, dagster_dbt_translator=translator
    )
    indirect = params.indirect_selection
    moved = params.dbt_project is not None and (
        project is None or Path(params.dbt_project.project_dir) != Path(project.project_dir)
    )
    return (
        [*params.selection_args, *(["--indirect-selection", indirect] if indirect else [])],
        Path(params.dbt_project.project_dir) if moved and params.dbt_project else None,
    )
