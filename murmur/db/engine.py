"""SQLAlchemy engine for the app database, always on the psycopg 3 driver."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import sqlalchemy as sa

_DRIVER = "postgresql+psycopg"


def sqlalchemy_url(url: str) -> str:
    """Rewrite `postgresql://`, `postgres://` or `postgresql+psycopg2://` to psycopg 3."""
    parts = urlsplit(url)
    if parts.scheme not in ("postgresql", "postgres", "postgresql+psycopg", "postgresql+psycopg2"):
        raise ValueError(f"not a PostgreSQL URL: {parts.scheme}://...")
    return urlunsplit(parts._replace(scheme=_DRIVER))


def libpq_url(url: str) -> str:
    """The same URL as plain `postgresql://`, which psycopg/libpq accept (no driver suffix)."""
    parts = urlsplit(url)
    if parts.scheme not in ("postgresql", "postgres", "postgresql+psycopg", "postgresql+psycopg2"):
        raise ValueError(f"not a PostgreSQL URL: {parts.scheme}://...")
    return urlunsplit(parts._replace(scheme="postgresql"))


def make_engine(url: str, **kwargs: object) -> sa.Engine:
    """An engine for `url` (any Postgres scheme) using psycopg 3, with pre-ping."""
    options: dict[str, object] = {"pool_pre_ping": True}
    if "poolclass" not in kwargs:
        options.update(pool_size=10, max_overflow=20)
    options.update(kwargs)
    return sa.create_engine(sqlalchemy_url(url), **options)
