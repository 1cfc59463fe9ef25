"""A private ClickHouse database per test module, beside the module's app database.

Shared by the fixtures of tests/pipelines, tests/murmur/segments and the API analytics tests,
which differ only in the tables they create in it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from murmur.clickhouse import ensure_database, get_client
from murmur.settings import Settings, get_settings


@contextmanager
def private_clickhouse(
    postgres_url: str, clickhouse_url: str, state_dir: Path, **overrides: Any
) -> Iterator[Settings]:
    """Settings on `postgres_url` and a fresh ClickHouse database `t_<hex>`, dropped on exit."""
    database = f"t_{uuid.uuid4().hex[:12]}"
    settings = get_settings(
        postgres_url=postgres_url,
        clickhouse_url=clickhouse_url,
        clickhouse_database=database,
        state_dir=state_dir,
        **overrides,
    )
    ensure_database(settings)
    try:
        yield settings
    finally:
        client = get_client(settings, database=False)
        try:
            client.command(f"drop database if exists `{database}` sync")
        finally:
            client.close()
