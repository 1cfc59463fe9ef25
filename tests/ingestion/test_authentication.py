"""Forged, stale, replayed and missing credentials are refused (401/403) and write nothing."""

from __future__ import annotations

import base64
import datetime as dt
import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.ingestion.conftest import MakeClient
from tests.ingestion.kafka_log import Written
from tests.ingestion.signing import (
    BASIC,
    CERT_NAME,
    Keys,
    basic_headers,
    mailgun_body,
    make_keys,
    sendgrid_headers,
    sns_envelope,
    sns_headers,
)

pytestmark = pytest.mark.integration

Capture = Callable[[Callable[[], Any]], tuple[Any, Written]]
SES_SEND = {
    "eventType": "Send",
    "mail": {
        "timestamp": "2016-10-14T05:02:16.645Z",
        "messageId": "EXAMPLE-send-1",
        "destination": ["recipient@example.com"],
        "tags": {"murmur_email_id": ["1"]},
    },
    "send": {},
}
SG_BATCH = [
    {
        "email": "a@example.com",
        "timestamp": 1513299569,
        "event": "delivered",
        "sg_event_id": "auth-test-1",
        "sg_message_id": "x.filter1",
    }
]
MG_EVENT = {
    "event": "delivered",
    "id": "auth-mg-1",
    "timestamp": 1521472262.9,
    "recipient": "a@b.c",
}


def _post(client: TestClient, provider: str, body: bytes, headers: dict[str, str]) -> Any:
    return client.post(f"/api/v1/webhooks/esp-events/{provider}", content=body, headers=headers)


def _refused(
    capture: Capture,
    client: TestClient,
    provider: str,
    body: bytes,
    headers: dict[str, str],
    status: int = 401,
) -> str:
    response, written = capture(lambda: _post(client, provider, body, headers))
    assert response.status_code == status, response.text
    assert written.nothing, written
    reason: str = response.json()["error"]
    assert reason
    return reason


# --- SNS / SES


@pytest.mark.parametrize("version", ["1", "2"])
def test_sns_signature_versions_1_and_2_verify(
    version: str, client: TestClient, keys: Keys, capture: Capture
) -> None:
    body = json.dumps(sns_envelope(keys, SES_SEND, version=version)).encode()
    response, written = capture(lambda: _post(client, "ses", body, sns_headers()))
    assert response.status_code == 200, response.text
    assert [e.type for e in written.events] == ["send"]


def test_sns_message_signed_by_another_key_is_refused(
    client: TestClient, keys: Keys, capture: Capture, tmp_path: Any
) -> None:
    other = make_keys(tmp_path)  # same cert file name, different key: a forgery
    body = json.dumps(sns_envelope(other, SES_SEND)).encode()
    assert "does not verify" in _refused(capture, client, "ses", body, sns_headers())


def test_sns_message_altered_after_signing_is_refused(
    client: TestClient, keys: Keys, capture: Capture
) -> None:
    env = sns_envelope(keys, SES_SEND)
    env["Message"] = env["Message"].replace('"1"', '"2"')
    body = json.dumps(env).encode()
    assert "does not verify" in _refused(capture, client, "ses", body, sns_headers())


@pytest.mark.parametrize(
    "url",
    [
        f"https://sns.us-west-2.amazonaws.com.evil.example/{CERT_NAME}",
        f"http://sns.us-west-2.amazonaws.com/{CERT_NAME}",
        f"https://evil.example/sns.us-west-2.amazonaws.com/{CERT_NAME}",
        f"https://sns.us-west-2.amazonaws.com:8443/{CERT_NAME}",
        f"https://user@sns.us-west-2.amazonaws.com/{CERT_NAME}",
    ],
)
def test_sns_certificate_url_off_amazon_is_refused_without_fetching(
    url: str, client: TestClient, keys: Keys, capture: Capture
) -> None:
    body = json.dumps(sns_envelope(keys, SES_SEND, cert_url=url)).encode()
    assert "SigningCertURL" in _refused(capture, client, "ses", body, sns_headers())


def test_stale_sns_timestamp_is_refused(client: TestClient, keys: Keys, capture: Capture) -> None:
    old = dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)
    body = json.dumps(sns_envelope(keys, SES_SEND, timestamp=old)).encode()
    assert "old" in _refused(capture, client, "ses", body, sns_headers())


def test_replay_window_zero_accepts_an_archived_sns_message(
    make_client: MakeClient, keys: Keys, capture: Capture
) -> None:
    archive = make_client(webhook_max_age_s=0)
    old = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
    body = json.dumps(sns_envelope(keys, SES_SEND, timestamp=old)).encode()
    response, written = capture(lambda: _post(archive, "ses", body, sns_headers()))
    assert response.status_code == 200, response.text
    assert len(written.events) == 1


def test_notification_from_an_unlisted_topic_is_refused(
    client: TestClient, keys: Keys, capture: Capture
) -> None:
    other = "arn:aws:sns:us-west-2:999999999999:someone-else"
    body = json.dumps(sns_envelope(keys, SES_SEND, topic=other)).encode()
    reason = _refused(capture, client, "ses", body, sns_headers(topic=other), status=403)
    assert "MURMUR_SNS_TOPIC_ARNS" in reason


def test_subscription_confirmation_for_an_unlisted_topic_is_not_confirmed(
    client: TestClient, keys: Keys, capture: Capture
) -> None:
    other = "arn:aws:sns:us-west-2:999999999999:someone-else"
    env = sns_envelope(
        keys, "You have chosen to subscribe", kind="SubscriptionConfirmation", topic=other
    )
    body = json.dumps(env).encode()
    headers = sns_headers("SubscriptionConfirmation", other)
    assert "not confirming" in _refused(capture, client, "ses", body, headers, status=403)


def test_forged_subscription_confirmation_is_refused(
    client: TestClient, keys: Keys, capture: Capture
) -> None:
    env = sns_envelope(keys, "You have chosen to subscribe", kind="SubscriptionConfirmation")
    env["SubscribeURL"] = "https://sns.us-west-2.amazonaws.com/?Action=ConfirmSubscription&x=1"
    body = json.dumps(env).encode()
    _refused(capture, client, "ses", body, sns_headers("SubscriptionConfirmation"))


def test_raw_sns_delivery_needs_basic_credentials(client: TestClient, capture: Capture) -> None:
    body = json.dumps(SES_SEND).encode()
    headers = {**sns_headers(), "x-amz-sns-rawdelivery": "true"}
    _refused(capture, client, "ses", body, headers)
    response, written = capture(lambda: _post(client, "ses", body, {**headers, **basic_headers()}))
    assert response.status_code == 200, response.text
    assert [e.type for e in written.events] == ["send"]


# --- SendGrid


def test_sendgrid_forged_signature_is_refused(
    client: TestClient, keys: Keys, capture: Capture, tmp_path: Any
) -> None:
    body = json.dumps(SG_BATCH).encode()
    forged = sendgrid_headers(make_keys(tmp_path), body)
    assert "does not verify" in _refused(capture, client, "sendgrid", body, forged)


def test_sendgrid_body_changed_after_signing_is_refused(
    client: TestClient, keys: Keys, capture: Capture
) -> None:
    body = json.dumps(SG_BATCH).encode()
    headers = sendgrid_headers(keys, body)
    _refused(capture, client, "sendgrid", body.replace(b"delivered", b"bounce"), headers)


def test_sendgrid_stale_timestamp_is_refused(
    client: TestClient, keys: Keys, capture: Capture
) -> None:
    body = json.dumps(SG_BATCH).encode()
    headers = sendgrid_headers(keys, body, stamp=int(time.time()) - 3600)
    assert "old" in _refused(capture, client, "sendgrid", body, headers)


def test_sendgrid_without_signature_headers_is_refused(
    client: TestClient, capture: Capture
) -> None:
    body = json.dumps(SG_BATCH).encode()
    _refused(capture, client, "sendgrid", body, {"Content-Type": "application/json"})


# --- Mailgun


def test_mailgun_replayed_token_is_refused(
    client: TestClient, keys: Keys, capture: Capture
) -> None:
    body = mailgun_body(keys, MG_EVENT)
    response, written = capture(lambda: _post(client, "mailgun", body, {}))
    assert response.status_code == 200, response.text
    assert len(written.events) == 1
    assert "replayed" in _refused(capture, client, "mailgun", body, {})


def test_mailgun_forged_and_stale_signatures_are_refused(
    client: TestClient, keys: Keys, capture: Capture
) -> None:
    body = json.loads(mailgun_body(keys, MG_EVENT))
    body["signature"]["signature"] = "0" * 64
    _refused(capture, client, "mailgun", json.dumps(body).encode(), {})
    stale = mailgun_body(keys, MG_EVENT, stamp=int(time.time()) - 3600)
    assert "old" in _refused(capture, client, "mailgun", stale, {})


def test_mailgun_is_refused_when_postgres_is_unreachable(
    make_client: MakeClient, keys: Keys, capture: Capture
) -> None:
    no_db = make_client(postgres_url="postgresql://nobody@127.0.0.1:1/none")
    body = mailgun_body(keys, MG_EVENT)
    _refused(capture, no_db, "mailgun", body, {}, status=503)


# --- HTTP Basic providers


@pytest.mark.parametrize("provider", ["postmark", "sparkpost", "mailjet", "brevo"])
def test_basic_auth_providers_refuse_wrong_or_missing_credentials(
    provider: str, client: TestClient, capture: Capture
) -> None:
    body = b'{"RecordType": "Delivery", "event": "delivered"}'
    _refused(capture, client, provider, body, {"Content-Type": "application/json"})
    _refused(capture, client, provider, body, basic_headers("hooks:wrong"))
    bad = {"Authorization": "Basic " + base64.b64encode(b"nocolon").decode()}
    _refused(capture, client, provider, body, bad)


def test_basic_auth_providers_answer_401_when_no_credentials_are_configured(
    make_client: MakeClient, capture: Capture
) -> None:
    unset = make_client(webhook_basic_auth=None)
    body = b'{"RecordType": "Delivery"}'
    reason = _refused(capture, unset, "postmark", body, basic_headers(BASIC))
    assert "MURMUR_WEBHOOK_BASIC_AUTH" in reason


def test_unconfigured_signed_providers_answer_401(
    make_client: MakeClient, keys: Keys, capture: Capture
) -> None:
    bare = make_client(sendgrid_webhook_public_key=None, mailgun_webhook_signing_key=None)
    body = json.dumps(SG_BATCH).encode()
    assert "PUBLIC_KEY" in _refused(capture, bare, "sendgrid", body, sendgrid_headers(keys, body))
    assert "SIGNING_KEY" in _refused(capture, bare, "mailgun", mailgun_body(keys, MG_EVENT), {})


def test_subscription_confirmation_that_cannot_reach_sns_answers_503_so_sns_retries(
    client: TestClient, keys: Keys, capture: Capture
) -> None:
    env = sns_envelope(keys, "You have chosen to subscribe", kind="SubscriptionConfirmation")
    body = json.dumps(env).encode()
    headers = sns_headers("SubscriptionConfirmation")
    assert "confirm" in _refused(capture, client, "ses", body, headers, status=503)
