"""ClickHouse through `st.connection` (clickhouse-connect) and Postgres through SQLAlchemy.

The ClickHouse URL comes from `.streamlit/secrets.toml` `[connections.clickhouse]` (`url`,
`database`) when present, else from the settings (`MURMUR_CLICKHOUSE_URL`, or the running local
stack). Settings are read once per browser session, when it starts.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
import streamlit as st
from clickhouse_connect.driver.client import Client
from streamlit.connections import BaseConnection

from murmur.clickhouse import parse_url
from murmur.db.engine import make_engine
from murmur.settings import Settings, get_settings


class ClickHouseConnection(BaseConnection[Client]):
    """A clickhouse-connect client for `url` (+ `database`), from kwargs or the secrets."""

    def _connect(self, **kwargs: Any) -> Client:
        import clickhouse_connect

        url = kwargs.get("url") or self._secrets.get("url")
        database = kwargs.get("database") or self._secrets.get("database") or "murmur"
        if not url:
            raise ValueError("no ClickHouse URL: set [connections.clickhouse] url or MURMUR_*")
        t = parse_url(str(url), str(database))
        return clickhouse_connect.get_client(
            **t.client_kwargs(), database=t.database, compress=False, autogenerate_session_id=False
        )

    @property
    def client(self) -> Client:
        return self._instance


def settings() -> Settings:
    """The settings of this browser session (read when it starts), filled from the local stack."""
    if "murmur_settings" not in st.session_state:
        st.session_state["murmur_settings"] = get_settings().resolved()
    value: Settings = st.session_state["murmur_settings"]
    return value


def _secret(section: str, key: str) -> Any:
    with contextlib.suppress(Exception):
        return st.secrets.get(section, {}).get(key)
    return None


def clickhouse_target() -> tuple[str, str]:
    """(url, database) of the ClickHouse the dashboards read."""
    section = _secret("connections", "clickhouse") or {}
    s = settings()
    if isinstance(section, Mapping) and section.get("url"):
        return str(section["url"]), str(section.get("database") or s.clickhouse_database)
    t = parse_url(s.require("clickhouse_url"), s.clickhouse_database)
    return s.require("clickhouse_url"), t.database


def clickhouse() -> Client:
    url, database = clickhouse_target()
    conn = st.connection(
        f"clickhouse-{database}", type=ClickHouseConnection, url=url, database=database, ttl=600
    )
    return conn.client


def cache_key() -> str:
    """Identifies the data source in cached query keys (different servers never share)."""
    url, database = clickhouse_target()
    return f"{url}/{database}"


@st.cache_resource(show_spinner=False)
def _engine(url: str) -> sa.Engine:
    return make_engine(url, pool_size=2, max_overflow=4)


def postgres() -> sa.Engine:
    return _engine(settings().require("postgres_url"))


def dagster_url() -> str | None:
    """The Dagster UI's URL: `MURMUR_DAGSTER_URL`-like secret, else the local stack's."""
    import json
    import os

    preset = os.environ.get("MURMUR_DAGSTER_URL") or _secret("dashboards", "dagster_url")
    if preset:
        return str(preset).rstrip("/")
    try:
        data = json.loads((settings().state_dir / "stack.json").read_text())
    except (OSError, ValueError):
        return None
    url = data.get("urls", {}).get("dagster_url")
    return str(url) if url else None
