"""Where a dbt run keeps its artifacts, so the next run with the same profile re-parses nothing.

dbt reuses its parse (`partial_parse.msgpack` in the target dir) only when the profile (host,
port, schema, ...) and the `--vars` are the ones it was written with. dagster-dbt gives every
invocation a fresh target dir seeded from the project's, which was parsed with a placeholder
profile, so every run parsed the whole project again. A run here uses one target dir per
(profile, vars) under the state dir instead (never in git), and holds its lock: two dbt builds
of the same models and database never overlap (their incremental steps would interleave).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from murmur.analytics.dbt_profile import profiles_yml
from murmur.settings import Settings


def target_dir(settings: Settings, variables: dict[str, str] | None = None) -> Path:
    """The target dir of dbt runs with this profile and these vars."""
    key = profiles_yml(settings) + "\x00" + json.dumps(variables or {}, sort_keys=True)
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return settings.state_dir / "dbt" / f"target-{digest}"


@contextmanager
def locked_target(settings: Settings, variables: dict[str, str] | None = None) -> Iterator[Path]:
    """The target dir, held exclusively (across processes) while the caller runs dbt in it.

    The lock is per database rather than per target: a daily-window run and the refresh build
    the same ClickHouse tables, so they wait for each other.
    """
    target = target_dir(settings, variables)
    target.mkdir(parents=True, exist_ok=True)
    lock_path = settings.state_dir / "dbt" / f".{settings.clickhouse_database}.lock"
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield target
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
