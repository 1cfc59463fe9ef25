"""The one place that turns a ClickHouse URL from the settings into a clickhouse-connect client.

`MURMUR_CLICKHOUSE_URL` is `http(s)://[user[:password]@]host[:port][/database]`; the port
defaults to 8123 (http) or 8443 (https); the database comes from the URL path, else
`MURMUR_CLICKHOUSE_DATABASE`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

if TYPE_CHECKING:
    from clickhouse_connect.driver.client import Client

    from murmur.settings import Settings

DEFAULT_PORTS = {"http": 8123, "https": 8443}


@dataclass(frozen=True)
class ClickHouseTarget:
    host: str
    port: int
    username: str
    password: str
    secure: bool
    database: str

    def client_kwargs(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "port": self.port,
            "username": self.username,
            "password": self.password,
            "secure": self.secure,
        }


def parse_url(url: str, database: str = "murmur") -> ClickHouseTarget:
    """Split a ClickHouse HTTP URL into connection parameters (ValueError when malformed)."""
    parts = urlsplit(url)
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
        raise ValueError(f"expected http(s)://host[:port], got {url!r}")
    path_db = parts.path.strip("/")
    return ClickHouseTarget(
        host=parts.hostname,
        port=parts.port or DEFAULT_PORTS[parts.scheme],
        username=unquote(parts.username or "default"),
        password=unquote(parts.password or ""),
        secure=parts.scheme == "https",
        database=path_db or database,
    )


def target(settings: Settings) -> ClickHouseTarget:
    return parse_url(settings.require("clickhouse_url"), settings.clickhouse_database)


def get_client(
    settings: Settings, *, database: bool = True, compress: bool | str = True, **kwargs: Any
) -> Client:
    """A clickhouse-connect client for the configured server.

    With `database=True` the client's default database is the configured one (it must exist:
    `ensure_database` creates it).
    """
    import clickhouse_connect

    t = target(settings)
    extra: dict[str, Any] = {"database": t.database} if database else {}
    return clickhouse_connect.get_client(**t.client_kwargs(), compress=compress, **extra, **kwargs)


def ensure_database(settings: Settings) -> str:
    """Create the configured database if missing; return its name."""
    t = target(settings)
    client = get_client(settings, database=False)
    try:
        client.command(f"create database if not exists `{t.database}`")
    finally:
        client.close()
    return t.database


def open_optional(settings: Settings) -> Client | None:
    """A client when ClickHouse is configured and answers; None (with a warning) otherwise.

    For callers that work without ClickHouse but do more with it: the send snapshot evaluates a
    contact-fields segment live in Postgres either way and, given a client, also records the
    segment's membership history; segments that need ClickHouse are refused without one.
    """
    import logging

    from clickhouse_connect.driver.exceptions import ClickHouseError

    settings = settings.resolved()
    if not settings.clickhouse_url:
        return None
    try:
        ensure_database(settings)
        return get_client(settings)
    except (ClickHouseError, OSError, ValueError) as exc:
        logging.getLogger("murmur.clickhouse").warning(
            "ClickHouse is configured but not reachable (%s): segments that need it are refused",
            exc,
        )
        return None
