"""Amazon SES v2 through moto in server mode: raw content, tags, throttling answered by backoff."""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from email import message_from_bytes
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from botocore.awsrequest import AWSResponse

from murmur.domain.esps import EspAccount
from murmur.kafka import ensure_topics
from murmur.settings import Settings
from sender.esp.base import EspAdapter
from sender.esp.ses import SesAdapter
from sender.esp.wiring import adapter
from sender.events import KafkaEventSink
from tests.murmur.conftest import MakeAccount
from tests.sender.esp_helpers import (
    SES_KEYS,
    Moto,
    add_esp,
    consume,
    esp_manager,
    esp_settings,
    ledger,
    make_esp_campaign,
    moto,
)

__all__ = ["moto"]
pytestmark = pytest.mark.integration


def _ses_esp(engine: sa.Engine, account_id: uuid.UUID, moto: Moto, **extra: Any) -> int:
    return add_esp(
        engine,
        account_id,
        name="ses-main",
        kind="ses",
        settings={"region": "us-east-1", "endpoint_url": moto.url, "configuration_set": "murmur"},
        credentials=SES_KEYS,
        **extra,
    )


def _hooked(register: Any) -> Any:
    """A make_adapter that registers botocore event handlers on each SES client it makes."""

    def make(account: EspAccount, settings: Settings) -> EspAdapter:
        made = adapter(account, settings)
        if isinstance(made, SesAdapter):
            register(made.client.meta.events)
        return made

    return make


def test_a_campaign_goes_out_through_ses_raw_with_our_headers_and_the_email_id_tag(
    db_engine: sa.Engine,
    migrated_db_url: str,
    make_account: MakeAccount,
    moto: Moto,
    smtp_url: str,
    kafka_bootstrap: str,
    tmp_path: Path,
) -> None:
    domain = f"{uuid.uuid4().hex[:8]}.example"
    moto.verify(domain)
    account_id, _ = make_account(default_from_email=f"news@{domain}")
    esp_id = _ses_esp(db_engine, account_id, moto)
    c = make_esp_campaign(db_engine, account_id, domain, [f"r{i}@gmail.com" for i in range(12)])
    requests: list[dict[str, Any]] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        requests.append(params)

    topic = f"test-{uuid.uuid4().hex}"
    ensure_topics(kafka_bootstrap, [topic], partitions=1)
    manager, router = esp_manager(
        db_engine,
        esp_settings(migrated_db_url, smtp_url, str(tmp_path)),
        events=KafkaEventSink(kafka_bootstrap, topic=topic),
        make_adapter=_hooked(
            lambda ev: ev.register("provide-client-params.sesv2.SendEmail", record)
        ),
    )
    pipe = manager.run(c.campaign_id)
    router.close()
    assert pipe.sent == 12 and pipe.outcome == "sent"

    records = moto.sent_records(domain)
    ids = Counter(str(message_from_bytes(raw)["Message-ID"]) for _, raw in records)
    assert len(ids) == 12 and set(ids.values()) == {1}
    first = message_from_bytes(records[0][1])
    assert first["List-Unsubscribe"] and first["List-Unsubscribe-Post"]  # raw: headers survive
    rows = ledger(db_engine, c.campaign_id)
    assert {r.status for r in rows} == {"sent"}
    assert {r.esp for r in rows} == {"ses-main"} and {r.esp_id for r in rows} == {esp_id}
    assert {r.esp_message_id for r in rows} == {ses_id for ses_id, _ in records}
    by_id = {str(r.email_record_id) for r in rows}
    assert {p["ConfigurationSetName"] for p in requests} == {"murmur"}
    tags = [{t["Name"]: t["Value"] for t in p["EmailTags"]} for p in requests]
    assert {t["murmur_email_id"] for t in tags} == by_id
    assert str(first["X-Murmur-Email-Id"]) in by_id
    # the send events say which ESP sent each message
    events = consume(kafka_bootstrap, topic, expected=12)
    assert len(events) == 12 and {e.type for e in events} == {"send"}
    assert {(e.provider, e.esp) for e in events} == {("ses", "ses-main")}
    assert {e.provider_message_id for e in events} == {r.esp_message_id for r in rows}


@pytest.mark.slow  # 100 messages at 40/s: 2.5 s at least
def test_ses_throttling_429_is_backed_off_and_every_message_goes_out_once_under_the_limit(
    db_engine: sa.Engine,
    migrated_db_url: str,
    make_account: MakeAccount,
    moto: Moto,
    smtp_url: str,
    tmp_path: Path,
) -> None:
    """moto cannot throttle: a before-send hook answers 429 TooManyRequestsException to every
    third request, as SES does past the account's sending rate."""
    domain = f"{uuid.uuid4().hex[:8]}.example"
    moto.verify(domain)
    account_id, _ = make_account(default_from_email=f"news@{domain}")
    limit = 40.0
    _ses_esp(db_engine, account_id, moto, rate_limit=limit)
    n = 100
    c = make_esp_campaign(db_engine, account_id, domain, [f"t{i}@yahoo.com" for i in range(n)])
    lock = threading.Lock()
    calls: list[float] = []
    throttled: list[float] = []

    def throttle(request: Any, **_: Any) -> AWSResponse | None:
        with lock:
            calls.append(time.monotonic())
            if len(calls) % 3:
                return None  # on to moto
            throttled.append(calls[-1])
        body = (
            b'{"__type": "TooManyRequestsException", "message": "Maximum sending rate exceeded."}'
        )
        headers = {"x-amzn-ErrorType": "TooManyRequestsException", "Retry-After": "0"}
        return AWSResponse(request.url, 429, headers, _Raw(body))

    settings = esp_settings(migrated_db_url, smtp_url, str(tmp_path), rate_limit_lease_seconds=0.05)
    manager, router = esp_manager(
        db_engine,
        settings,
        make_adapter=_hooked(lambda ev: ev.register("before-send.sesv2.SendEmail", throttle)),
    )
    pipe = manager.run(c.campaign_id)
    router.close()

    assert pipe.sent == n and pipe.failed == 0 and pipe.outcome == "sent"
    assert len(throttled) >= n // 3  # SES really throttled, and the router came back
    stats = router.metadata()["esps"]["ses-main"]
    assert stats["throttled"] == len(throttled) and stats["sent"] == n
    ids = Counter(str(message_from_bytes(raw)["Message-ID"]) for raw in moto.sent(domain))
    assert len(ids) == n and set(ids.values()) == {1}  # every message exactly once
    # Every request (throttled or not) spent a token: over the run they stay under the limit.
    burst = max(limit * settings.rate_limit_burst_seconds, 1)
    span = calls[-1] - calls[0]
    assert (len(calls) - burst - 1) / span <= limit * 1.05


class _Raw:
    """The raw HTTP body botocore reads from an AWSResponse."""

    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_: Any) -> Any:
        yield self.body

    def read(self, *_: Any) -> bytes:
        body, self.body = self.body, b""
        return body
