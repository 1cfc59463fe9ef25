"""Pipeline health: consumer lag and DLQ size (Kafka), and the last Dagster runs and checks.

Dagster is read from its instance (`DAGSTER_HOME`, else the local stack's `<state>/dagster`),
so the page works whether or not the Dagster UI runs; links point into the UI when its URL is
known.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from murmur.ingestion_status import group_lag, topic_size
from murmur.kafka import DLQ_TOPIC, EVENTS_TOPIC


@st.cache_data(ttl=15, show_spinner=False)
def kafka_health(bootstrap: str, groups: tuple[str, ...]) -> dict[str, Any]:
    """Lag per consumer group on the events topic and the dead-letter topic's size."""
    rows = []
    for group in groups:
        lag = group_lag(bootstrap, group, EVENTS_TOPIC, timeout=3.0)
        rows.append({"group": group, "topic": EVENTS_TOPIC, "lag": lag.lag,
                     "committed": lag.committed, "partitions": lag.partitions,
                     "error": lag.error})  # fmt: skip
    dlq: int | None
    error = None
    try:
        dlq = topic_size(bootstrap, DLQ_TOPIC, timeout=3.0)
    except Exception as exc:
        dlq, error = None, str(exc)
    return {"groups": rows, "dlq": dlq, "dlq_error": error}


def dagster_home(state_dir: Path) -> Path:
    return Path(os.environ.get("DAGSTER_HOME") or state_dir / "dagster")


@st.cache_data(ttl=15, show_spinner=False)
def dagster_runs(home: str, limit: int = 20) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(the last runs, the asset-check results of those runs), newest first."""
    from dagster import DagsterEventType, DagsterInstance

    instance = DagsterInstance.from_config(home)
    try:
        records = instance.get_run_records(limit=limit)
        runs, checks = [], []
        for rec in records:
            run = rec.dagster_run
            runs.append(
                {
                    "run_id": run.run_id,
                    "job": run.job_name,
                    "status": run.status.value,
                    "partition": run.tags.get("dagster/partition"),
                    "started_at": pd.to_datetime(rec.start_time, unit="s", utc=True)
                    if rec.start_time
                    else None,
                    "ended_at": pd.to_datetime(rec.end_time, unit="s", utc=True)
                    if rec.end_time
                    else None,
                }
            )
            logs = instance.all_logs(run.run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION)
            for entry in logs:
                event = entry.dagster_event
                data: Any = event.event_specific_data if event is not None else None
                if data is None or not hasattr(data, "check_name"):
                    continue
                checks.append(
                    {
                        "asset": "/".join(data.asset_key.path),
                        "check": data.check_name,
                        "passed": bool(data.passed),
                        "run_id": run.run_id,
                        "at": pd.to_datetime(entry.timestamp, unit="s", utc=True),
                    }
                )
    finally:
        instance.dispose()
    return pd.DataFrame(runs), pd.DataFrame(checks)


def run_link(base: str | None, run_id: str) -> str | None:
    return f"{base}/runs/{run_id}" if base else None


def asset_link(base: str | None, asset: str) -> str | None:
    return f"{base}/assets/{asset}?view=checks" if base else None
