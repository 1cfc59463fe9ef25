"""The demo's Dagster materializations: one run per refresh, in-process, shown in the Dagster UI.

`murmur` imports no app, so a refresh is a `dagster asset materialize` child process on the
stack's `DAGSTER_HOME` (its run shows in the Dagster UI with every asset and check it
materialized). The run uses Dagster's in-process executor: the multiprocess one starts a
Python per step, each importing Dagster and loading the code location again (seconds each on
a busy 2-core machine), for steps that run one after the other anyway.

Before the send one run materializes replication, every dbt model of the `analytics` group
(with their dbt tests and the contacts expectations, the checks of those assets) and the SQL
segments with their membership: what `analytics_refresh` and `segments_refresh` do, in one
code-location load instead of two. After the events came back, a second run materializes
replication and the campaign marts the summary and the dashboards' campaign pages read
(`campaign_performance`, its hourly twin, `deliverability_by_mailbox_provider`) with the
models under them; the contact marts and the segments keep their pre-send build. The
daily models (`fct_email_events`) keep to their schedule (today's partition exists once the
day is over), and so does `ingestion_status` with the events expectations.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from murmur.demo.steps import PROJECT_DIR, child_env, exe
from murmur.settings import Settings

Say = Callable[[str], None]
BEFORE_SEND = "before"
AFTER_SEND = "after"
# Dagster asset selection syntax. `criteria_segments` is partitioned (one per segment): its
# sensor computes those, and the send's snapshot refreshes the campaign's own.
SELECTIONS = {
    BEFORE_SEND: (
        "group:replication or group:analytics or (group:segments and not key:criteria_segments)"
    ),
    AFTER_SEND: (
        "group:replication or ((+key:campaign_performance or +key:campaign_performance_hourly"
        " or +key:deliverability_by_mailbox_provider) and not group:ingestion)"
    ),
}
IN_PROCESS = json.dumps({"execution": {"config": {"in_process": {}}}})
_EVENTS = ("ASSET_MATERIALIZATION", "ASSET_CHECK_EVALUATION")
_SAID = ("STEP_START", "STEP_SUCCESS", "STEP_FAILURE", "RUN_SUCCESS", "RUN_FAILURE")
PROGRESS_EVERY = 5.0  # seconds between progress lines


@dataclass
class RunProgress:
    """What a run's log said so far: materializations and checks, printed at most every 5 s."""

    say: Say
    materialized: int = 0
    checks: int = 0
    failed_checks: int = 0
    last: float = 0.0

    def line(self, text: str) -> None:
        if "ASSET_MATERIALIZATION" in text:
            self.materialized += 1
        elif "ASSET_CHECK_EVALUATION" in text:
            self.checks += 1
            self.failed_checks += "' did not pass." in text  # Dagster's words for a failure
        if any(mark in text for mark in _SAID):
            parts = text.strip().split(" - ")  # date - dagster - LEVEL - job - run - pid - …
            self.say(f"      {' - '.join(parts[-3:])[:160]}")
        elif any(m in text for m in _EVENTS) and time.monotonic() - self.last >= PROGRESS_EVERY:
            self.last = time.monotonic()
            self.say(f"      {self.summary()} so far")

    def summary(self) -> str:
        failed = f" ({self.failed_checks} failed)" if self.failed_checks else ""
        return f"{self.materialized} assets materialized, {self.checks} checks{failed}"


def materialize_command(stage: str) -> list[str]:
    """The `dagster asset materialize` command line of a refresh stage."""
    return [
        exe("dagster"),
        "asset",
        "materialize",
        "-m",
        "pipelines.definitions",
        "--select",
        SELECTIONS[stage],
        "--config-json",
        IN_PROCESS,
    ]


def refresh(settings: Settings, say: Say, stage: str) -> None:
    """One Dagster run of the stage's selection; raises naming the log when it fails."""
    log: Path = settings.state_dir / "logs" / "demo-dagster.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    progress = RunProgress(say)
    with (
        log.open("a") as out,
        subprocess.Popen(
            materialize_command(stage),
            cwd=PROJECT_DIR,
            env=child_env(settings),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        ) as proc,
    ):
        for text in proc.stdout or ():
            out.write(text)
            progress.line(text)
        code = proc.wait()
    say(f"      {progress.summary()}")
    if code != 0:
        raise RuntimeError(
            f"the Dagster run of the {stage}-send refresh failed (exit {code}); see {log}"
        )
