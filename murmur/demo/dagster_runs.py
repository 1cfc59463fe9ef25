"""The demo's Dagster materializations: one run per refresh in one warm worker, shown in the UI.

`murmur` imports no app, so the runs happen in a child process, `python -m
pipelines.defs.demo`, on the stack's `DAGSTER_HOME` (each run shows in the Dagster UI with
every asset it materialized). The demo starts it right after the migrations: it imports
Dagster and dbt (and parses the dbt project on a fresh clone) while the demo seeds, loads the
code location once, and runs both refreshes, instead of two `dagster asset materialize`
children each paying that start-up (10-20 s on a busy 2-core machine) on the demo's path.

Before the send, `demo_refresh_before_send` materializes replication, every dbt model of the
`analytics` group and the SQL segments with their membership: what `analytics_refresh` and
`segments_refresh` build. After the events came back, `demo_refresh_after_send` materializes
replication and the campaign marts the summary and the dashboards' campaign pages read
(`campaign_performance`, its hourly twin, `deliverability_by_mailbox_provider`) with the
models under them; the contact marts and the segments keep their pre-send build. Neither job
evaluates asset checks (dbt tests, Great Expectations suites): the scheduled jobs and `make
test` run those. The daily models (`fct_email_events`) keep to their schedule (today's
partition exists once the day is over), and so does `ingestion_status`.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from murmur.demo.steps import PROJECT_DIR, child_env
from murmur.settings import Settings

Say = Callable[[str], None]
BEFORE_SEND = "before"
AFTER_SEND = "after"
# Dagster asset selection syntax (pipelines/defs/demo.py builds the jobs from these, without
# checks). `criteria_segments` is partitioned (one per segment): its sensor computes those, and
# the send's snapshot refreshes the campaign's own.
SELECTIONS = {
    BEFORE_SEND: (
        "group:replication or group:analytics or (group:segments and not key:criteria_segments)"
    ),
    AFTER_SEND: (
        "group:replication or ((+key:campaign_performance or +key:campaign_performance_hourly"
        " or +key:deliverability_by_mailbox_provider) and not group:ingestion)"
    ),
}
JOBS = {BEFORE_SEND: "demo_refresh_before_send", AFTER_SEND: "demo_refresh_after_send"}
WORKER = [sys.executable, "-m", "pipelines.defs.demo"]
MARK = "@@demo"  # the worker's own lines on its stdout; the rest is Dagster's log
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
        checks = f", {self.checks} checks{failed}" if self.checks else ""
        return f"{self.materialized} assets materialized{checks}"


class Worker:
    """The `python -m pipelines.defs.demo` child that runs the demo's refresh jobs."""

    def __init__(self, settings: Settings) -> None:
        self.log: Path = settings.state_dir / "logs" / "demo-dagster.log"
        self.log.parent.mkdir(parents=True, exist_ok=True)
        env = {**child_env(settings), "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            WORKER,
            cwd=PROJECT_DIR,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
        )
        self.started = time.perf_counter()

    def _pipes(self) -> tuple[IO[str], IO[str]]:
        if self.proc.stdin is None or self.proc.stdout is None:
            raise RuntimeError("the Dagster worker has no pipes")
        return self.proc.stdin, self.proc.stdout

    def refresh(self, settings: Settings, say: Say, stage: str) -> None:
        """One run of the stage's job; raises naming the log when it fails."""
        stdin, stdout = self._pipes()
        job = JOBS[stage]
        try:
            stdin.write(job + "\n")
            stdin.flush()
        except OSError:
            pass  # it exited: reading says so
        progress = RunProgress(say)
        outcome = None
        with self.log.open("a") as out:
            for text in stdout:
                out.write(text)
                if not text.startswith(MARK):
                    progress.line(text)
                    continue
                word, _, rest = text[len(MARK) :].strip().partition(" ")
                if word == "warm":
                    say(
                        f"      the Dagster worker imported Dagster and dbt in {rest}s "
                        f"(started {time.perf_counter() - self.started:.0f}s ago, during the seed)"
                    )
                elif word == "loaded":
                    say(f"      it loaded the code location in {rest}s")
                elif word == "done":
                    outcome = rest.rpartition(" ")[2]
                    break
        say(f"      {job}: {progress.summary()}")
        if outcome != "ok":
            why = "failed" if outcome else f"worker exited ({self.proc.poll()})"
            raise RuntimeError(f"the Dagster run of {job} {why}; see {self.log}")

    def close(self) -> None:
        """Close its stdin (it exits after the job in hand); stop it if it does not."""
        if self.proc.stdin is not None:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.terminate()
            self.proc.wait(timeout=30)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
