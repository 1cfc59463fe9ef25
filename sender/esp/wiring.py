"""Settings + the `esps` table → the EspRouter a worker sends through.

The platform default ESP (for accounts without their own) comes from the settings:
`MURMUR_DEFAULT_ESP=smtp` uses `MURMUR_SMTP_URL`, `ses` uses `MURMUR_SES_*`. Limits: each ESP's
own rate (`esps.rate_limit`, `MURMUR_ESP_RATE_LIMIT` for the default) and
`MURMUR_PROVIDER_RATE_LIMITS` per mailbox provider, all shared through Postgres.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from murmur.domain.esps import EspAccount, account_esps
from murmur.settings import Settings
from sender.adaptive import AdaptiveConfig, AdaptiveThrottle, HealthRows, clickhouse_reader
from sender.circuit import CircuitConfig
from sender.esp.backoff import Backoff
from sender.esp.base import EspAdapter, EspRef
from sender.esp.router import EspRouter, RouterConfig, esp_bucket, provider_bucket
from sender.esp.smtp import SmtpAdapter
from sender.messengers.smtp import SmtpConfig
from sender.models import Campaign, EventSink
from sender.ratelimit import Limit, PgBuckets, RateLimiter

log = logging.getLogger("sender.esp")


def default_account(settings: Settings) -> EspAccount:
    """The platform default ESP from the settings (SettingsError when it is not configured)."""
    if settings.default_esp == "ses":
        secret = settings.ses_secret_access_key
        credentials = {
            "access_key_id": settings.ses_access_key_id,
            "secret_access_key": secret.get_secret_value() if secret else None,
        }
        options = {
            "region": settings.ses_region,
            "endpoint_url": settings.ses_endpoint_url,
            "configuration_set": settings.ses_configuration_set,
        }
        return EspAccount(
            None, "platform:ses", "ses", 0, settings.esp_rate_limit, (), options, credentials
        )
    url = settings.require("smtp_url")
    return EspAccount(
        None, "platform:smtp", "smtp", 0, settings.esp_rate_limit, (), {}, {"url": url}
    )


def adapter(account: EspAccount, settings: Settings) -> EspAdapter:
    ref = EspRef(account.label, account.esp_id, account.kind)
    if account.kind == "ses":
        from sender.esp.ses import SesAdapter, SesConfig  # boto3 is imported only for SES

        s, c = account.settings, account.credentials
        return SesAdapter(
            ref,
            SesConfig(
                region=s.get("region") or settings.ses_region,
                endpoint_url=s.get("endpoint_url"),
                access_key_id=c.get("access_key_id"),
                secret_access_key=c.get("secret_access_key"),
                configuration_set=s.get("configuration_set"),
            ),
        )
    return SmtpAdapter(ref, SmtpConfig.from_url(str(account.credentials["url"])))


def router_config(settings: Settings) -> RouterConfig:
    return RouterConfig(
        max_attempts=settings.esp_max_attempts,
        backoff=Backoff(settings.smtp_retry_base_seconds, settings.esp_retry_max_seconds),
        circuit=CircuitConfig(
            window=settings.circuit_window,
            min_calls=settings.circuit_min_calls,
            failure_rate=settings.circuit_failure_rate,
            cooldown_seconds=settings.circuit_cooldown_seconds,
        ),
        max_wait_seconds=max(120.0, settings.circuit_cooldown_seconds * 2),
    )


def _limit(bucket: str, rate: float, settings: Settings) -> Limit:
    return Limit(bucket, rate, settings.rate_limit_burst_seconds, settings.rate_limit_lease_seconds)


def build_router(
    engine: sa.Engine,
    settings: Settings,
    events: EventSink | None,
    make_adapter: Callable[[EspAccount, Settings], EspAdapter] = adapter,
    health_reader: Callable[[float], HealthRows] | None = None,
) -> EspRouter:
    """The router of one worker: ESPs loaded per campaign, limits shared through Postgres.

    `health_reader` overrides where adaptive throttling reads provider health (ClickHouse's
    `events` by default, when `MURMUR_CLICKHOUSE_URL` or the local stack provides one).
    """
    buckets = PgBuckets(engine)
    provider_limits = {
        p: _limit(provider_bucket(p), rate, settings)
        for p, rate in settings.provider_limits().items()
    }
    limiter = RateLimiter(buckets, {lim.bucket: lim for lim in provider_limits.values()})
    default = default_account(settings)
    secret = settings.secret_key or ""

    def adapters_for(campaign: Campaign) -> list[EspAdapter]:
        domain = campaign.from_email.rsplit("@", 1)[-1].lower()
        with engine.connect() as conn:
            accounts = account_esps(conn, campaign.account_id, domain, secret)
        accounts = accounts or [default]
        adapters = []
        for account in accounts:
            made = make_adapter(account, settings)
            if account.rate_limit:
                limiter.add(_limit(esp_bucket(made.ref), account.rate_limit, settings))
            adapters.append(made)
        log.info(
            "campaign %s sends through %s",
            campaign.campaign_id,
            ", ".join(a.ref.label for a in adapters),
        )
        return adapters

    adaptive = None
    reader = health_reader or _clickhouse_health(settings)
    if settings.adaptive_throttling and provider_limits and reader is not None:
        adaptive = AdaptiveThrottle(
            buckets,
            provider_limits,
            reader,
            AdaptiveConfig(
                window_minutes=settings.adaptive_window_minutes,
                threshold=settings.adaptive_threshold,
                min_sent=settings.adaptive_min_events,
                interval_seconds=settings.adaptive_interval_seconds,
                floor=settings.adaptive_floor,
                step=settings.adaptive_step,
            ),
        )
    return EspRouter(adapters_for, router_config(settings), limiter, events, adaptive)


def _clickhouse_health(settings: Settings) -> Callable[[float], HealthRows] | None:
    """A lazy ClickHouse reader (the client is made at the first evaluation), or None."""
    if not settings.resolved().clickhouse_url:
        return None
    state: dict[str, Any] = {}

    def read(since: float) -> HealthRows:
        if "read" not in state:
            from murmur.clickhouse import get_client, target

            client = get_client(settings.resolved(), database=False)
            state["read"] = clickhouse_reader(client, target(settings.resolved()).database)
        rows: HealthRows = state["read"](since)
        return rows

    return read
