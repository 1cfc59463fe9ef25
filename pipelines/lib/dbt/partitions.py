"""The dbt `--vars` of a partitioned (daily) run."""

from __future__ import annotations

import datetime as dt
import json


def partition_window_vars(start: dt.datetime, end: dt.datetime) -> dict[str, str]:
    """The window [start, end) of a run of daily partitions as dbt vars min_date / max_date.

    A backfill of several days is one window, so one dbt invocation rebuilds all its days. The
    end is exclusive, like Dagster's time windows; times inside a day round to that day.
    """
    if end <= start:
        raise ValueError(f"empty partition window: {start.isoformat()} .. {end.isoformat()}")
    last = (end - dt.timedelta(microseconds=1)).date()
    return {
        "min_date": start.date().isoformat(),
        "max_date": (last + dt.timedelta(days=1)).isoformat(),
    }


def vars_args(variables: dict[str, str]) -> list[str]:
    """`["--vars", "<json>"]` for dbt, or nothing when there are no vars."""
    return ["--vars", json.dumps(variables, sort_keys=True)] if variables else []
