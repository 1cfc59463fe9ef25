"""Typed settings from `MURMUR_*` environment variables and an optional `.env` file.

Build them with `get_settings()` when an app starts; nothing here runs at import time. Every
external service is a URL: unset means "use the local stack" (`murmur stack up`), whose URLs are
read from the state dir's `stack.json`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from murmur.domain.mailbox_providers import PROVIDER_KEYS


class SettingsError(RuntimeError):
    """A setting is missing or malformed; the message names the variable."""


_SCHEMES: dict[str, tuple[str, ...]] = {
    "postgres_url": ("postgresql", "postgresql+psycopg", "postgresql+psycopg2", "postgres"),
    "dagster_postgres_url": ("postgresql", "postgresql+psycopg2", "postgres"),
    "clickhouse_url": ("http", "https"),
    "smtp_url": ("smtp", "smtps"),
    "dagster_url": ("http", "https"),
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
    api_port: int = Field(default=8000, ge=1, le=65535, description="Port of `murmur api serve`.")

    # The local stack (`murmur stack up`): a fixed port per service; unset = a free port.
    stack_postgres_port: int | None = Field(default=None, ge=1, le=65535)
    stack_clickhouse_port: int | None = Field(default=None, ge=1, le=65535)
    stack_kafka_port: int | None = Field(default=None, ge=1, le=65535)
    stack_smtp_port: int | None = Field(default=None, ge=1, le=65535)

    @field_validator(
        "stack_postgres_port",
        "stack_clickhouse_port",
        "stack_kafka_port",
        "stack_smtp_port",
        mode="before",
    )
    @classmethod
    def _blank_port_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    # API request limits (413 names the limit). Uploads (the contact CSV import) have their own
    # ceiling; the import route also enforces its file-size limit.
    api_max_body_bytes: int = Field(
        default=1024 * 1024, ge=1, description="Largest JSON request body, in bytes."
    )
    api_max_upload_bytes: int = Field(
        default=600 * 1024 * 1024, ge=1, description="Largest CSV upload request, in bytes."
    )

    # ingestion consumer
    consumer_group: str = Field(default="murmur-events", description="Kafka group: events.")
    feedback_group: str = Field(default="murmur-feedback", description="Kafka group: feedback.")
    consumer_batch_size: int = Field(default=5000, ge=1, le=1_000_000)
    consumer_batch_time_ms: int = Field(default=1000, ge=1, le=600_000)
    consumer_session_timeout_ms: int = Field(default=6000, ge=1000, le=300_000)
    consumer_heartbeat_interval_ms: int = Field(default=500, ge=100, le=60_000)
    consumer_hole_wait_s: float = Field(
        default=30.0,
        ge=0,
        le=3600,
        description="Seconds a hole in a partition's offsets is re-read before it is accepted "
        "(0: no check, for a broker whose topics carry transactions or compaction).",
    )
    soft_bounce_limit: int = Field(default=3, ge=1, description="Soft bounces before suppression.")
    soft_bounce_window_days: int = Field(default=7, ge=1, description="Soft-bounce window.")

    # Analytics (replication + dbt + Dagster, issue 10)
    analytics_cron: str = Field(
        default="*/5 * * * *",
        description="Cron of the Dagster schedule that refreshes the analytics (UTC).",
    )
    analytics_expectations_cron: str = Field(
        default="17 * * * *",
        description="Cron of the Great Expectations suites' job (UTC), off the refresh's minutes.",
    )
    analytics_dbt_checks_cron: str = Field(
        default="47 * * * *", description="Cron of the hourly dbt tests' job (UTC)."
    )
    analytics_dbt_threads: int = Field(default=4, ge=1, le=64, description="dbt threads.")
    dagster_url: str | None = Field(
        default=None, description="Dagster webserver URL (segment refresh); unset = the stack's."
    )

    @field_validator("analytics_cron", "analytics_expectations_cron", "analytics_dbt_checks_cron")
    @classmethod
    def _check_cron(cls, value: str) -> str:
        if len(value.split()) != 5:
            raise ValueError(
                f"expected a 5-field cron expression like '*/5 * * * *', got {value!r}"
            )
        return value

    @field_validator(
        "postgres_url", "dagster_postgres_url", "clickhouse_url", "smtp_url", "dagster_url"
    )
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
        """Fill unset service URLs (and the tracking secret) from the running local stack.

        URLs come from the state dir's `stack.json`; the tracking secret, only while that stack
        runs its receiver, from the keys `murmur stack up` generated (what `murmur stack env`
        exports), so a sender started on the stack signs links its receiver verifies.
        """
        urls = _stack_urls(self.stack_file())
        updates: dict[str, object] = {
            field: urls[field]
            for field in (
                "postgres_url",
                "dagster_postgres_url",
                "clickhouse_url",
                "kafka_bootstrap_servers",
                "smtp_url",
                "tracking_base_url",
                "dagster_url",
            )
            if getattr(self, field) is None and field in urls
        }
        if self.tracking_secret is None and "tracking_base_url" in urls:
            from murmur.stack.keys import read_keys

            secret = read_keys(self.state_dir).get("MURMUR_TRACKING_SECRET")
            if secret:
                updates["tracking_secret"] = SecretStr(secret)
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

    # ingestion receiver
    sns_topic_arns: str | None = Field(
        default=None, description="Comma-separated SNS topic ARNs whose messages are accepted."
    )
    sns_cert_dir: Path | None = Field(
        default=None, description="Pinned SNS signing certificates, named like the cert URL's file."
    )
    sendgrid_webhook_public_key: str | None = Field(
        default=None, description="SendGrid signed event webhook public key (base64 DER)."
    )
    mailgun_webhook_signing_key: SecretStr | None = None
    webhook_basic_auth: SecretStr | None = Field(
        default=None, description="user:password for Postmark, SparkPost, Mailjet, Brevo."
    )
    webhook_max_age_s: int = Field(default=900, ge=0, description="Replay window; 0 = off.")
    webhook_max_bytes: int = Field(default=10 * 1024 * 1024, gt=0)
    tracking_base_url: str | None = Field(default=None, description="Public URL of /t and /u.")
    tracking_secret: SecretStr | None = None
    ingestion_host: str = "127.0.0.1"
    ingestion_port: int = 8100

    def sns_topics(self) -> frozenset[str]:
        """The allowed SNS topic ARNs (empty: every topic is accepted, none is confirmed)."""
        return frozenset(t.strip() for t in (self.sns_topic_arns or "").split(",") if t.strip())

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
    smtp_max_retries: int = Field(default=5, ge=0, le=20, description="SMTP 4xx retries.")
    smtp_retry_base_seconds: float = Field(
        default=0.5, ge=0, description="First SMTP retry delay, doubled each time, jittered."
    )

    # ESPs, rate limits, backoff, failover, adaptive throttling (issue 13)
    default_esp: Literal["smtp", "ses"] = Field(
        default="smtp", description="Platform default ESP for accounts without their own."
    )
    ses_region: str = Field(default="us-east-1", description="SES region (platform default).")
    ses_endpoint_url: str | None = Field(default=None, description="SES endpoint override.")
    ses_access_key_id: str | None = None
    ses_secret_access_key: SecretStr | None = None
    ses_configuration_set: str | None = Field(
        default=None, description="SES configuration set (its event destination feeds us)."
    )
    esp_rate_limit: float | None = Field(
        default=None, gt=0, description="Messages/s of the platform default ESP (unset: none)."
    )
    provider_rate_limits: str | None = Field(
        default=None,
        description="Messages/s per mailbox provider, all workers together: 'gmail=50,yahoo=30'.",
    )
    rate_limit_burst_seconds: float = Field(
        default=0.25, gt=0, le=60, description="Bucket depth, in seconds of the rate."
    )
    rate_limit_lease_seconds: float = Field(
        default=0.1, gt=0, le=10, description="Tokens a worker leases at once, in seconds."
    )
    esp_max_attempts: int = Field(
        default=6, ge=1, le=50, description="Attempts per message (over all ESPs) per claim."
    )
    esp_retry_max_seconds: float = Field(default=30.0, gt=0, description="Backoff ceiling.")
    circuit_window: int = Field(default=20, ge=1, le=10_000, description="Attempts judged.")
    circuit_min_calls: int = Field(default=5, ge=1, description="Attempts before it may open.")
    circuit_failure_rate: float = Field(default=0.5, gt=0, le=1, description="Opening share.")
    circuit_cooldown_seconds: float = Field(default=30.0, ge=0, description="Open → half-open.")
    adaptive_throttling: bool = Field(default=True, description="Per-provider adaptive rates.")
    adaptive_window_minutes: float = Field(default=10.0, gt=0, le=1440)
    adaptive_threshold: float = Field(default=0.05, gt=0, le=1, description="Problem share.")
    adaptive_min_events: int = Field(default=20, ge=1, description="Attempts before judging.")
    adaptive_interval_seconds: float = Field(default=30.0, ge=0, description="Re-evaluation.")
    adaptive_floor: float = Field(default=0.125, gt=0, le=1, description="Lowest factor.")
    adaptive_step: float = Field(default=0.25, gt=0, le=1, description="Recovery per step.")

    @field_validator("provider_rate_limits")
    @classmethod
    def _check_provider_limits(cls, value: str | None) -> str | None:
        if value:
            parse_provider_limits(value)
        return value or None

    def provider_limits(self) -> dict[str, float]:
        """`MURMUR_PROVIDER_RATE_LIMITS` as {provider: messages per second}."""
        return parse_provider_limits(self.provider_rate_limits or "")


def parse_provider_limits(value: str) -> dict[str, float]:
    """'gmail=50, yahoo=30' → {'gmail': 50.0, 'yahoo': 30.0} (ValueError naming the bad part)."""
    limits: dict[str, float] = {}
    for part in (p.strip() for p in value.split(",")):
        if not part:
            continue
        name, sep, rate = part.partition("=")
        name = name.strip().lower()
        if not sep or name not in PROVIDER_KEYS:
            raise ValueError(
                f"expected provider=rate with provider in {PROVIDER_KEYS}, got {part!r}"
            )
        try:
            number = float(rate)
        except ValueError:
            raise ValueError(f"rate of {name} must be a number, got {rate.strip()!r}") from None
        if not number > 0:
            raise ValueError(f"rate of {name} must be > 0, got {number:g}")
        limits[name] = number
    return limits


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
