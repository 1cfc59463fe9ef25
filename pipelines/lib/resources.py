"""Dagster resources for our services, built from the settings when a run uses them.

Every field is an optional override of the matching `MURMUR_*` setting (tests and one-off runs
set them); unset, the settings decide (the local stack by default). Nothing is read at import
or load time: `settings()` builds them on use.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
from clickhouse_connect.driver.client import Client

from murmur.clickhouse import ensure_database, get_client
from murmur.settings import Settings, get_settings


class _SettingsResource(dg.ConfigurableResource):  # type: ignore[type-arg]
    state_dir: str | None = None

    def _overrides(self) -> dict[str, object]:
        return {"state_dir": Path(self.state_dir)} if self.state_dir else {}

    def settings(self) -> Settings:
        return get_settings(**self._overrides())


class ClickHouseResource(_SettingsResource):
    """The analytics ClickHouse (`MURMUR_CLICKHOUSE_URL`, database `MURMUR_CLICKHOUSE_DATABASE`)."""

    url: str | None = None
    database: str | None = None

    def _overrides(self) -> dict[str, object]:
        extra: dict[str, object] = {}
        if self.url:
            extra["clickhouse_url"] = self.url
        if self.database:
            extra["clickhouse_database"] = self.database
        return {**super()._overrides(), **extra}

    @contextmanager
    def get_client(self) -> Iterator[Client]:
        """A client on the configured database (created if missing), closed afterwards."""
        settings = self.settings()
        ensure_database(settings)
        client = get_client(settings)
        try:
            yield client
        finally:
            client.close()


class PostgresResource(_SettingsResource):
    """The app database (`MURMUR_POSTGRES_URL`), the source of truth replication reads."""

    url: str | None = None

    def _overrides(self) -> dict[str, object]:
        extra: dict[str, object] = {"postgres_url": self.url} if self.url else {}
        return {**super()._overrides(), **extra}

    def database_url(self) -> str:
        return self.settings().require("postgres_url")
