"""Broker down: the receiver answers 503 (so the ESP retries); once it is back, retries land."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from starlette.testclient import TestClient

from ingestion.receiver.app import create_app
from murmur.net import free_port
from murmur.stack.manager import Stack
from murmur.tracking import TrackingIds, unsubscribe_url
from tests.ingestion.conftest import TRACKING_BASE, receiver_settings
from tests.ingestion.kafka_log import TopicLog
from tests.ingestion.signing import Keys, mailgun_body, sendgrid_headers

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
def outage_stack(tmp_path: Path) -> Iterator[Stack]:
    stack = Stack(tmp_path / "state", ["kafka"], ports={"kafka": free_port()})
    stack.up()
    yield stack
    stack.down()


def _retry_until_accepted(post: Any, attempts: int = 20) -> Any:
    """What an ESP does: retry until a 2xx (here quickly; ESPs back off for minutes)."""
    for _ in range(attempts):
        response = post()
        if response.status_code < 500:
            return response
        time.sleep(0.5)
    return response


def test_broker_down_answers_503_and_retries_land_after_it_returns(
    outage_stack: Stack, keys: Keys, ingestion_db_url: str, tmp_path: Path
) -> None:
    bootstrap = outage_stack.service("kafka").urls()["kafka_bootstrap_servers"]
    settings = receiver_settings(keys, bootstrap, ingestion_db_url, tmp_path)
    batch = [
        {
            "email": "a@example.com",
            "timestamp": 1700000000,
            "event": "delivered",
            "sg_event_id": "outage-1",
            "sg_message_id": "o.filter1",
            "murmur_email_id": "31",
        }
    ]
    body = json.dumps(batch).encode()
    mailgun = mailgun_body(
        keys,
        {
            "event": "complained",
            "id": "outage-mg-1",
            "timestamp": 1700000000,
            "recipient": "a@example.com",
        },
    )
    unsubscribe = urlsplit(unsubscribe_url(TRACKING_BASE, keys.tracking, TrackingIds(32))).path
    one_click = {
        "content": b"List-Unsubscribe=One-Click",
        "headers": {"Content-Type": "application/x-www-form-urlencoded"},
    }

    with TestClient(create_app(settings)) as client:

        def post_sendgrid() -> Any:
            return client.post(
                "/api/v1/webhooks/esp-events/sendgrid",
                content=body,
                headers=sendgrid_headers(keys, body),
            )

        def post_mailgun() -> Any:
            return client.post("/api/v1/webhooks/esp-events/mailgun", content=mailgun)

        def post_unsubscribe() -> Any:
            return client.post(unsubscribe, **one_click)

        assert post_sendgrid().status_code == 200

        assert outage_stack.service("kafka").proc.stop()
        down = [post_sendgrid(), post_mailgun(), post_unsubscribe()]
        assert [r.status_code for r in down] == [503, 503, 503], [r.text for r in down]
        assert "retry" in down[0].json()["error"]

        outage_stack.up()  # same port; the memory broker starts empty
        log = TopicLog(bootstrap)
        marks = log.marks()
        retried = [
            _retry_until_accepted(p) for p in (post_sendgrid, post_mailgun, post_unsubscribe)
        ]
        assert [r.status_code for r in retried] == [200, 200, 200], [r.text for r in retried]
        written = log.since(marks)
        log.close()
    # Regression: after the memory broker restarted it no longer knew the idempotent producer's
    # id and fenced it; every retry got 503 until the producer is rebuilt.
    # The Mailgun retry reuses its signature token: it lands because the failed post released it.
    # A 503 whose messages arrived late may leave a duplicate, with the same event id.
    assert sorted({e.type for e in written.events}) == ["complaint", "delivery", "unsubscribe"]
    assert len({e.event_id for e in written.events}) == 3
