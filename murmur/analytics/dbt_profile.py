"""The dbt profile of `dbt_project/`, built from the settings and written to a private directory.

Nothing secret is committed: `write_profiles_dir` writes `profiles.yml` (mode 0600) for the
configured ClickHouse (`MURMUR_CLICKHOUSE_URL`, the local stack's server by default) with the
schema `MURMUR_CLICKHOUSE_DATABASE`, where the raw tables and `events` live.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from murmur.clickhouse import target
from murmur.settings import Settings

PROFILE = "murmuration"


def profiles_yml(settings: Settings) -> str:
    """The text of `profiles.yml` (JSON is valid YAML: no quoting pitfalls in passwords)."""
    t = target(settings)
    output = {
        "type": "clickhouse",
        "driver": "http",
        "host": t.host,
        "port": t.port,
        "user": t.username,
        "password": t.password,
        "secure": t.secure,
        "schema": t.database,
        "threads": settings.analytics_dbt_threads,
        "connect_timeout": 10,
        "send_receive_timeout": 600,
        # dbt-clickhouse otherwise probes, on the first connection of each process running dbt
        # (every Dagster run worker, every CLI call), whether the database can EXCHANGE TABLES:
        # it creates, exchanges and drops two tables, five DDL statements, 0.25-0.3 s on the
        # local server before the first model starts. The marts' refresh exchanges tables
        # itself (macros/refresh_keys.sql), so the project needs a database engine that can
        # (Atomic, ClickHouse's default, Replicated or Shared) anyway.
        "check_exchange": False,
    }
    return json.dumps({PROFILE: {"target": "murmur", "outputs": {"murmur": output}}}, indent=2)


def write_profiles_dir(settings: Settings, directory: Path | None = None) -> Path:
    """Write `profiles.yml` into `directory` (default: a private dir under the state dir)."""
    if directory is None:
        directory = settings.state_dir / "dbt"
    directory.mkdir(parents=True, exist_ok=True)
    text = profiles_yml(settings)
    path = directory / "profiles.yml"
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".profiles.")
    with os.fdopen(fd, "w") as f:
        f.write(text + "\n")
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    return directory
