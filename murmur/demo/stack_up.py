"""The demo's `murmur stack up`: what the seed needs now, the rest while it seeds.

Migrations and the seed need Postgres and ClickHouse only, so those start first; the other
services (Kafka, the SMTP sink, the receiver, the consumer, the simulator, the dashboards),
then Dagster (webserver + daemon, the slowest to load) start in a background thread meanwhile.
The demo waits for the services before the first Dagster run and for Dagster before the send.
What the thread printed is kept and said when the demo waits for it, so it never breaks the
seed's progress bar.

The Dagster it starts refreshes the analytics hourly, from an hour after the demo started,
instead of every 5 minutes (`MURMUR_ANALYTICS_CRON`, unless set): the demo materializes what
it shows itself, and a scheduled full refresh (replication, every dbt model with its tests,
the segments, the ingestion expectations) in the middle of the demo only competed with it for
the two cores, and rebuilt the same tables at the same time.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
import time
from collections.abc import Callable

from murmur.settings import Settings

Say = Callable[[str], None]
FIRST = ("postgres", "clickhouse")  # what the migrations and the seed need
CRON_VARIABLE = "MURMUR_ANALYTICS_CRON"


class Background(threading.Thread):
    """`Stack(...).up()` of the remaining services, then of Dagster, in a daemon thread."""

    def __init__(self, settings: Settings, services: list[str], dagster: bool) -> None:
        super().__init__(name="demo-stack-up", daemon=True)
        self.settings = settings
        self.services = services
        self.dagster = dagster
        self.lines: list[str] = []
        self.errors: list[str] = []  # the services (the demo cannot go on)
        self.dagster_errors: list[str] = []  # Dagster only (the demo sends without it)
        self.services_up = threading.Event()
        self.started = time.perf_counter()
        self.services_seconds = 0.0

    def run(self) -> None:
        from murmur.stack.manager import Stack, configured_ports

        ports = configured_ports(self.settings)
        try:
            Stack(self.settings.state_dir, self.services, ports).up(say=self.lines.append)
            if self.dagster:  # the instance's dagster.yaml, before the demo's first run uses it
                Stack(self.settings.state_dir, ["dagster"], ports).service("dagster").prepare()
        except Exception as exc:
            self.errors.append(str(exc))
        finally:
            self.services_seconds = time.perf_counter() - self.started
            self.services_up.set()
        if self.dagster and not self.errors:
            try:
                Stack(self.settings.state_dir, ["dagster"], ports).up()
            except Exception as exc:
                self.dagster_errors.append(str(exc))

    def flush(self, say: Say) -> None:
        lines, self.lines = self.lines, []
        for line in lines:
            say(f"      {line}")

    def wait_services(self, say: Say, timeout: float) -> None:
        """Until the background services are up (say their lines); raises if one failed."""
        if not self.services_up.wait(timeout):
            raise TimeoutError(f"the local stack did not come up in {timeout:.0f}s")
        self.flush(say)
        if self.errors:
            raise RuntimeError(f"the local stack did not start: {'; '.join(self.errors)}")
        say(f"      the rest of the stack was up {self.services_seconds:.1f}s after it started")

    def wait_dagster(self, say: Say, timeout: float) -> None:
        """Until Dagster answered or failed to start (said, not raised: the send goes on)."""
        self.join(timeout)
        self.flush(say)
        for error in self.dagster_errors:
            say(f"      dagster did not start: {error}")


def hourly_cron(now: dt.datetime) -> str:
    """Every hour at the minute before `now`'s: the first tick comes about an hour later."""
    return f"{(now.minute - 1) % 60} * * * *"


def stack_up(settings: Settings, say: Say, dagster: bool) -> Background:
    """Postgres and ClickHouse now; every other service, then Dagster, in the background."""
    from murmur.stack.manager import STACK_UP_SERVICES, Stack, configured_ports

    first = [n for n in STACK_UP_SERVICES if n in FIRST]
    Stack(settings.state_dir, first, configured_ports(settings)).up(say=lambda m: say(f"      {m}"))
    rest = [n for n in STACK_UP_SERVICES if n not in FIRST and n != "dagster"]
    if dagster and not os.environ.get(CRON_VARIABLE):
        os.environ[CRON_VARIABLE] = hourly_cron(dt.datetime.now(dt.UTC))
        say(
            f"      Dagster's analytics schedules: hourly from an hour from now "
            f"({CRON_VARIABLE}={os.environ[CRON_VARIABLE]!r}), the demo runs its own refreshes"
        )
    background = Background(settings, rest, dagster)
    background.start()
    say(f"      {', '.join(rest)}: starting in the background while the demo seeds")
    if dagster:
        say("      dagster (webserver + daemon): starting in the background after them")
    return background
