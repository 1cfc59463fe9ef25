"""Receiver behaviour: body cap, malformed bodies, dead letters, retries collapse, no 5xx."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from tests.ingestion.conftest import MakeClient
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

Capture = Callable[[Callable[[], Any]], tuple[Any, Written]]
PROVIDERS = ["ses", "sendgrid", "mailgun", "postmark", "sparkpost", "mailjet", "brevo"]


def _post(client: TestClient, path: str, body: bytes, headers: dict[str, str]) -> Any:
    return client.post(path, content=body, headers=headers)


def test_healthz_answers_ok(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_body_over_the_cap_is_413_and_writes_nothing(
    make_client: MakeClient, keys: Keys, capture: Capture
) -> None:
    small = make_client(webhook_max_bytes=1024)
    body = json.dumps([{"event": "delivered", "pad": "x" * 2000}]).encode()
    response, written = capture(
        lambda: _post(
            small, "/api/v1/webhooks/esp-events/sendgrid", body, sendgrid_headers(keys, body)
        )
    )
    assert response.status_code == 413
    assert "MURMUR_WEBHOOK_MAX_BYTES" in response.json()["error"]
    assert written.nothing


def test_body_over_the_cap_without_content_length_is_413(make_client: MakeClient) -> None:
    small = make_client(webhook_max_bytes=1024)

    def chunks() -> Any:
        for _ in range(10):
            yield b"x" * 512

    response = small.post(
        "/api/v1/webhooks/esp-events/postmark", content=chunks(), headers=basic_headers()
    )
    assert response.status_code == 413


@pytest.mark.parametrize(
    ("provider", "body"),
    [
        ("postmark", b"not json at all"),
        ("postmark", b"[1, 2, 3]"),
        ("sparkpost", b'"a string"'),
        ("mailjet", b"{"),
    ],
)
def test_malformed_body_is_400_with_a_reason_and_writes_nothing(
    provider: str, body: bytes, client: TestClient, capture: Capture
) -> None:
    response, written = capture(
        lambda: _post(client, f"/api/v1/webhooks/esp-events/{provider}", body, basic_headers())
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"]
    assert written.nothing


def test_generic_endpoint_that_cannot_tell_the_provider_is_400(
    client: TestClient, capture: Capture
) -> None:
    response, written = capture(
        lambda: _post(client, "/api/v1/webhooks/esp-events", b'{"hello": 1}', {})
    )
    assert response.status_code == 400
    assert "which provider" in response.json()["error"]
    assert written.nothing


def test_unknown_provider_is_404(client: TestClient) -> None:
    response = client.post("/api/v1/webhooks/esp-events/pigeon", content=b"{}")
    assert response.status_code == 404
    assert "known" in response.json()["error"]


def test_what_the_webhook_fast_path_does_not_take_gets_the_routes_answers(
    client: TestClient,
) -> None:
    # the middleware answers exact webhook POSTs only; other methods and deeper paths still
    # get Starlette's 405 / 404, as before the middleware existed
    assert client.get("/api/v1/webhooks/esp-events/sendgrid").status_code == 405
    assert client.post("/api/v1/webhooks/esp-events/ses/extra", content=b"{}").status_code == 404
    assert client.post("/api/v1/webhooks/esp-events/", content=b"{}").status_code in (307, 404)


def test_signed_but_unknown_event_is_acknowledged_and_dead_lettered_with_the_original_bytes(
    client: TestClient, keys: Keys, capture: Capture
) -> None:
    batch = [
        {
            "email": "a@example.com",
            "timestamp": 1513299569,
            "event": "delivered",
            "sg_event_id": "dlq-known-1",
            "sg_message_id": "m.filter1",
        },
        {
            "email": "a@example.com",
            "timestamp": 1513299569,
            "event": "teleported",
            "sg_event_id": "dlq-unknown-1",
        },
    ]
    body = json.dumps(batch).encode()
    response, written = capture(
        lambda: _post(
            client, "/api/v1/webhooks/esp-events/sendgrid", body, sendgrid_headers(keys, body)
        )
    )
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == 1 and response.json()["dead_lettered"] == 1
    assert [e.type for e in written.events] == ["delivery"]
    (letter,) = [json.loads(d) for d in written.dead]
    assert "teleported" in letter["error"] and "#1" in letter["error"]
    assert letter["provider"] == "sendgrid"
    assert base64.b64decode(letter["original_b64"]) == body
    assert "x-twilio-email-event-webhook-timestamp" in letter["headers"]


def test_sns_message_that_is_not_an_ses_event_is_dead_lettered(
    client: TestClient, keys: Keys, capture: Capture
) -> None:
    body = json.dumps(sns_envelope(keys, "just a text message")).encode()
    response, written = capture(
        lambda: _post(client, "/api/v1/webhooks/esp-events/ses", body, sns_headers())
    )
    assert response.status_code == 200, response.text
    assert written.events == []
    (letter,) = [json.loads(d) for d in written.dead]
    assert "not an SES event" in letter["error"]
    assert base64.b64decode(letter["original_b64"]) == body


def test_the_same_webhook_posted_three_times_gives_the_same_event_ids(
    client: TestClient, keys: Keys, capture: Capture
) -> None:
    ses = {
        "eventType": "Delivery",
        "mail": {
            "timestamp": "2024-01-01T00:00:00Z",
            "messageId": "three-times",
            "destination": ["x@example.com"],
        },
        "delivery": {"timestamp": "2024-01-01T00:00:01Z", "recipients": ["x@example.com"]},
    }
    postmark = {
        "RecordType": "Open",
        "MessageID": "pm-three",
        "Recipient": "x@example.com",
        "ReceivedAt": "2024-01-01T00:00:00Z",
        "UserAgent": "Mozilla/5.0 (X11)",
    }
    posts = {
        "ses": lambda: (json.dumps(sns_envelope(keys, ses)).encode(), sns_headers()),
        "mailgun": lambda: (
            mailgun_body(
                keys, {"event": "opened", "timestamp": 1700000000, "recipient": "x@example.com"}
            ),
            {},
        ),
        "postmark": lambda: (json.dumps(postmark).encode(), basic_headers()),
    }
    for provider, make in posts.items():
        ids = []
        for _ in range(3):
            body, headers = make()  # SNS and Mailgun sign each retry afresh
            response, written = capture(
                lambda b=body, h=headers: _post(  # type: ignore[misc]
                    client, f"/api/v1/webhooks/esp-events/{provider}", b, h
                )
            )
            assert response.status_code == 200, response.text
            ids.append([e.event_id for e in written.events])
        assert len(ids[0]) == 1 and ids[0] == ids[1] == ids[2], (provider, ids)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=20,
)
event_like = st.fixed_dictionaries(
    {},
    optional={
        "event": st.sampled_from(["delivered", "bounce", "open", "click", "hard_bounce", "sent"]),
        "RecordType": st.sampled_from(["Bounce", "Open", "Delivery", "SubscriptionChange"]),
        "msys": st.dictionaries(st.sampled_from(["message_event", "track_event"]), json_values),
        "timestamp": json_values,
        "time": json_values,
        "email": json_values,
        "MessageID": json_values,
        "Metadata": json_values,
        "type": json_values,
        "bounce_class": json_values,
        "ts_epoch": json_values,
    },
)
bodies = (
    st.binary(max_size=300)
    | json_values.map(lambda v: json.dumps(v).encode())
    | st.lists(event_like, max_size=4).map(lambda v: json.dumps(v).encode())
    | event_like.map(lambda v: json.dumps(v).encode())
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=bodies, provider=st.sampled_from([*PROVIDERS, None]), authed=st.booleans())
def test_garbage_bodies_never_produce_a_5xx(
    body: bytes, provider: str | None, authed: bool, client: TestClient, keys: Keys
) -> None:
    path = "/api/v1/webhooks/esp-events" + (f"/{provider}" if provider else "")
    headers = basic_headers() if authed else {}
    if authed and provider == "sendgrid":
        headers = sendgrid_headers(keys, body)
    response = client.post(path, content=body, headers=headers)
    assert response.status_code < 500, (response.status_code, response.text)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(message=json_values | event_like)
def test_garbage_inside_a_valid_sns_signature_never_produces_a_5xx(
    message: Any, client: TestClient, keys: Keys
) -> None:
    for inner in (message, {"eventType": "Bounce", "mail": message, "bounce": message}):
        body = json.dumps(sns_envelope(keys, inner)).encode()
        response = client.post(
            "/api/v1/webhooks/esp-events/ses", content=body, headers=sns_headers()
        )
        assert response.status_code < 500, (response.status_code, response.text)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    event_data=st.dictionaries(
        st.sampled_from(
            [
                "event",
                "timestamp",
                "id",
                "severity",
                "recipient",
                "message",
                "user-variables",
                "client-info",
                "delivery-status",
            ]
        ),
        json_values,
        max_size=6,
    )
)
def test_garbage_inside_a_valid_mailgun_signature_never_produces_a_5xx(
    event_data: dict[str, Any], client: TestClient, keys: Keys
) -> None:
    response = client.post(
        "/api/v1/webhooks/esp-events/mailgun", content=mailgun_body(keys, event_data)
    )
    assert response.status_code < 500, (response.status_code, response.text)


@pytest.mark.parametrize("depth", [600, 1000])
def test_a_deeply_nested_payload_is_dead_lettered_not_a_500(
    depth: int, client: TestClient, capture: Capture
) -> None:
    # Regression: nesting within orjson's limit broke canonical_hash (RecursionError) or
    # pydantic's serializer (depth limit) and the request answered 500.
    nested = "[" * depth + "]" * depth
    head = b'{"event": "delivered", "email": "a@b.c", "ts_epoch": 1714035924000, "deep": '
    body = head + nested.encode() + b"}"
    response, written = capture(
        lambda: _post(client, "/api/v1/webhooks/esp-events/brevo", body, basic_headers())
    )
    assert response.status_code == 200, response.text
    assert written.events == []
    (letter,) = [json.loads(d) for d in written.dead]
    assert "nested too deeply" in letter["error"] or "serialized" in letter["error"]


def test_generic_endpoint_takes_a_bare_ses_event_as_raw_sns_delivery(
    client: TestClient, make_client: MakeClient, capture: Capture
) -> None:
    ses = {
        "eventType": "Send",
        "mail": {
            "timestamp": "2024-01-01T00:00:00Z",
            "messageId": "raw-1",
            "destination": ["r@example.com"],
        },
        "send": {},
    }
    body = json.dumps(ses).encode()
    path = "/api/v1/webhooks/esp-events"
    refused, nothing = capture(lambda: _post(client, path, body, {}))
    assert refused.status_code == 401 and nothing.nothing
    no_topic, nothing = capture(lambda: _post(client, path, body, basic_headers()))
    assert no_topic.status_code == 403 and nothing.nothing  # the topic list is set: name one
    open_topics = make_client(sns_topic_arns=None)
    response, written = capture(lambda: _post(open_topics, path, body, basic_headers()))
    assert response.status_code == 200, response.text
    assert [(e.provider, e.type) for e in written.events] == [("ses", "send")]
