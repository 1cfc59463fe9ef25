"""Typed settings from `MURMUR_*` environment variables and an optional `.env` file.

Build them with `get_settings()` when an app starts; nothing here runs at import time. Every
external service is a URL: unset means "use the local stack" (`murmur stack up`), whose URLs are
read from the state dir's `stack.json`.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class SettingsError(RuntimeError):
    """A setting is missing or malformed; the message names the variable."""


_SCHEMES: dict[str, tuple[str, ...]] = {
    "postgres_url": ("postgresql", "postgresql+psycopg", "postgresql+psycopg2", "postgres"),
    "dagster_postgres_url": ("postgresql", "postgresql+psycopg2", "postgres"),
    "clickhouse_url": ("http", "https"),
    "smtp_url": ("smtp", "smtps"),
}


class Settings(BaseSettings):
    """All configuration of Murmuration. Field `x` is read from `MURMUR_X`."""

    model_config = SettingsConfigDict(
        env_prefix="MURMUR_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    state_dir: Path = Field(default=Path(".murmur"), description="Local stack state directory.")
    postgres_url: str | None = Field(default=None, description="App database URL.")
    dagster_postgres_url: str | None = Field(default=None, description="Dagster storage URL.")
    clickhouse_url: str | None = Field(default=None, description="ClickHouse HTTP URL.")
    clickhouse_database: str = Field(default="murmur", description="ClickHouse database.")
    kafka_bootstrap_servers: str | None = Field(default=None, description="host:port[,host:port]")
    smtp_url: str | None = Field(default=None, description="smtp://user:pass@host:port")
    api_host: str = "127.0.0.1"
    api_port: int = 8000

    @field_validator("postgres_url", "dagster_postgres_url", "clickhouse_url", "smtp_url")
    @classmethod
    def _check_url(cls, value: str | None, info: object) -> str | None:
        if value is None or value == "":
            return None
        name = getattr(info, "field_name", "")
        parts = urlsplit(value)
        allowed = _SCHEMES.get(name, ())
        if parts.scheme not in allowed or not parts.hostname:
            raise ValueError(
                f"expected a URL like {allowed[0]}://host:port..., got {value!r}"
                f" (scheme must be one of {', '.join(allowed)})"
            )
        try:
            _ = parts.port
        except ValueError as exc:
            raise ValueError(f"bad port in {value!r}: {exc}") from exc
        return value

    @field_validator("kafka_bootstrap_servers")
    @classmethod
    def _check_bootstrap(cls, value: str | None) -> str | None:
        if not value:
            return None
        for server in value.split(","):
            host, sep, port = server.strip().rpartition(":")
            if not sep or not host or not port.isdigit():
                raise ValueError(f"expected host:port[,host:port...], got {value!r}")
        return value

    def stack_file(self) -> Path:
        return self.state_dir / "stack.json"

    def resolved(self) -> Settings:
        """Fill unset service URLs from the running local stack's `stack.json`."""
        urls = _stack_urls(self.stack_file())
        updates = {
            field: urls[field]
            for field in (
                "postgres_url",
                "dagster_postgres_url",
                "clickhouse_url",
                "kafka_bootstrap_servers",
                "smtp_url",
            )
            if getattr(self, field) is None and field in urls
        }
        return self.model_copy(update=updates)

    def require(self, field: str) -> str:
        """Return a service URL or fail naming the variable and how to provide it."""
        value = getattr(self.resolved(), field)
        if not value:
            raise SettingsError(
                f"MURMUR_{field.upper()} is not set and no local stack is running under "
                f"{self.state_dir}/ (tried {self.stack_file()}). Run `murmur stack up` or set "
                f"MURMUR_{field.upper()}."
            )
        return str(value)

    # sender
    send_shards: int = Field(default=2, ge=1, le=1024, description="Sender shards per campaign.")
    secret_key: str | None = Field(
        default=None, description="Encrypts secrets at rest (DKIM private keys)."
    )
    send_lease_seconds: int = Field(
        default=600, ge=5, description="A claimed ledger row is retried after this (crash)."
    )
    send_batch_size: int = Field(default=200, ge=1, le=10_000, description="Rows per claim.")
    send_concurrency: int = Field(default=4, ge=1, le=64, description="SMTP connections.")
    send_tracking_base_url: str = Field(
        default="http://127.0.0.1:8100",
        description="Base URL of the tracking receiver in links (until murmur.tracking).",
    )
    send_tracking_secret: str | None = Field(
        default=None, description="HMAC key of tracking links (until murmur.tracking)."
    )
    smtp_max_retries: int = Field(default=5, ge=0, le=20, description="SMTP 4xx retries.")
    smtp_retry_base_seconds: float = Field(
        default=0.5, ge=0, description="First SMTP retry delay, doubled each time, jittered."
    )


def redact_url(url: str) -> str:
    """The URL with its password replaced by `***`, for messages and logs."""
    parts = urlsplit(url)
    if not parts.password:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()


def _stack_urls(path: Path) -> dict[str, str]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    urls = data.get("urls", {})
    return {str(k): str(v) for k, v in urls.items()} if isinstance(urls, dict) else {}


def get_settings(**overrides: object) -> Settings:
    """Build settings now, turning validation errors into one readable `SettingsError`."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            field = ".".join(str(p) for p in err["loc"])
            lines.append(f"MURMUR_{field.upper()}: {err['msg']}")
        raise SettingsError("invalid settings:\n  " + "\n  ".join(lines)) from None
