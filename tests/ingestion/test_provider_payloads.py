"""Each provider's documented payloads land on `email-events` as the right normalized events."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.ingestion.kafka_log import Written
from tests.ingestion.signing import (
    Keys,
    basic_headers,
    mailgun_body,
    sendgrid_headers,
    sns_envelope,
    sns_headers,
)

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).parent / "fixtures"
Capture = Callable[[Callable[[], Any]], tuple[Any, Written]]


def _cases(provider: str) -> list[tuple[str, dict[str, Any]]]:
    cases = json.loads((FIXTURES / f"{provider}.json").read_text())
    return [(provider, case) for case in cases]


ALL = [
    pc
    for p in ("ses", "sendgrid", "mailgun", "postmark", "sparkpost", "mailjet", "brevo")
    for pc in _cases(p)
]


def signed_request(provider: str, payload: Any, keys: Keys) -> tuple[bytes, dict[str, str]]:
    """The body and headers the provider would send for `payload`."""
    if provider == "ses":
        return json.dumps(sns_envelope(keys, payload)).encode(), sns_headers()
    if provider == "sendgrid":
        body = json.dumps(payload).encode()
        return body, sendgrid_headers(keys, body)
    if provider == "mailgun":
        return mailgun_body(keys, payload), {"Content-Type": "application/json"}
    return json.dumps(payload).encode(), basic_headers()


def _expected_matches(got: dict[str, Any], want: dict[str, Any]) -> None:
    for field, value in want.items():
        actual = got[field]
        if field == "timestamp":
            actual = actual.replace("+00:00", "Z")
        assert actual == value, f"{field}: {actual!r} != {value!r} in {got}"


@pytest.mark.parametrize(("provider", "case"), ALL, ids=[f"{p}: {c['name']}" for p, c in ALL])
def test_documented_payload_lands_as_normalized_events(
    provider: str, case: dict[str, Any], client: TestClient, keys: Keys, capture: Capture
) -> None:
    body, headers = signed_request(provider, case["payload"], keys)
    response, written = capture(
        lambda: client.post(
            f"/api/v1/webhooks/esp-events/{provider}", content=body, headers=headers
        )
    )
    assert response.status_code == 200, response.text
    assert written.dead == [], written.dead
    assert len(written.events) == len(case["expect"]), [e.type for e in written.events]
    by_order = sorted(written.events, key=lambda e: (e.email_record_id or 0, e.recipient or ""))
    wanted = sorted(case["expect"], key=lambda w: w.get("email_record_id") or 0)
    for event, want in zip(by_order, wanted, strict=True):
        got = json.loads(event.to_json())
        _expected_matches(got, want)
        assert got["provider"] == provider
        assert got["raw"], "the provider payload travels with the event"
        assert event.timestamp.utcoffset() is not None
    for event, key in zip(written.events, written.keys, strict=True):
        assert key == event.kafka_key()


@pytest.mark.parametrize(("provider", "case"), ALL, ids=[f"{p}: {c['name']}" for p, c in ALL])
def test_generic_endpoint_detects_the_provider_and_gives_the_same_event_ids(
    provider: str, case: dict[str, Any], client: TestClient, keys: Keys, capture: Capture
) -> None:
    body, headers = signed_request(provider, case["payload"], keys)
    first, one = capture(
        lambda: client.post(
            f"/api/v1/webhooks/esp-events/{provider}", content=body, headers=headers
        )
    )
    if provider in ("ses", "mailgun"):  # a fresh signature/token for the second post
        body, headers = signed_request(provider, case["payload"], keys)
    second, two = capture(
        lambda: client.post("/api/v1/webhooks/esp-events", content=body, headers=headers)
    )
    assert first.status_code == second.status_code == 200, second.text
    assert sorted(e.event_id for e in one.events) == sorted(e.event_id for e in two.events)
    assert {e.provider for e in two.events} <= {provider}
