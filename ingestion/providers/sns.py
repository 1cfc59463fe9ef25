"""Amazon SNS envelopes: signature v1/v2, subscription confirmation, raw message delivery.

Signed messages are verified over the documented string to sign (key/value lines in a fixed
order). Raw message delivery carries no signature, so it must bring HTTP Basic credentials
(`MURMUR_WEBHOOK_BASIC_AUTH`, given to SNS in the endpoint URL as `https://user:pass@host/...`).
"""

from __future__ import annotations

import base64
import binascii
import logging

import httpx
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from ingestion.providers.common import (
    JSON,
    Incoming,
    Outcome,
    Skip,
    check_basic_auth,
    loads,
)
from ingestion.providers.common import parse_time as _parse_time
from ingestion.providers.records import fast_record, model_record
from ingestion.providers.ses import ses_events
from ingestion.providers.sns_certs import is_sns_url
from ingestion.receiver.context import Context
from ingestion.receiver.errors import WebhookError, malformed, unauthorized
from ingestion.receiver.replay import check_fresh

log = logging.getLogger(__name__)

_NOTIFICATION_FIELDS = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
_SUBSCRIPTION_FIELDS = (
    "Message",
    "MessageId",
    "SubscribeURL",
    "Timestamp",
    "Token",
    "TopicArn",
    "Type",
)
_HASHES: dict[str, hashes.HashAlgorithm] = {"1": hashes.SHA1(), "2": hashes.SHA256()}
_PADDING = padding.PKCS1v15()  # stateless descriptors: built once, not per message


def string_to_sign(message: dict[str, JSON]) -> bytes:
    """The bytes SNS signs: name, newline, value, newline per present field, in order."""
    kind = message.get("Type")
    names = _NOTIFICATION_FIELDS if kind == "Notification" else _SUBSCRIPTION_FIELDS
    out = []
    for name in names:
        value = message.get(name)
        if value is None:
            if name == "Subject":
                continue
            raise malformed(f"SNS {kind} lacks {name}")
        if not isinstance(value, str):
            raise malformed(f"SNS field {name} must be a string")
        out.append(f"{name}\n{value}\n")
    return "".join(out).encode()


async def verify(message: dict[str, JSON], ctx: Context) -> None:
    version = str(message.get("SignatureVersion", ""))
    algorithm = _HASHES.get(version)
    if algorithm is None:
        raise unauthorized(f"unsupported SNS SignatureVersion {version[:8]!r} (expected 1 or 2)")
    signature = message.get("Signature")
    if not isinstance(signature, str) or not signature:
        raise unauthorized("SNS message without Signature")
    try:
        sig = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        raise unauthorized("SNS Signature is not base64") from None
    signed = string_to_sign(message)
    key = await ctx.certs.public_key(message.get("SigningCertURL"))  # type: ignore[arg-type]
    try:
        key.verify(sig, signed, _PADDING, algorithm)
    except InvalidSignature:
        raise unauthorized("SNS signature does not verify") from None


def _check_topic(topic: JSON, ctx: Context) -> None:
    if ctx.sns_topics and topic not in ctx.sns_topics:
        raise WebhookError(403, f"SNS topic {str(topic)[:200]!r} is not in MURMUR_SNS_TOPIC_ARNS")


async def _confirm(message: dict[str, JSON], ctx: Context) -> Outcome:
    topic = message.get("TopicArn")
    if not ctx.sns_topics or topic not in ctx.sns_topics:
        raise WebhookError(
            403, f"not confirming SNS topic {str(topic)[:200]!r}: not in MURMUR_SNS_TOPIC_ARNS"
        )
    url = message.get("SubscribeURL")
    if not isinstance(url, str) or not is_sns_url(url):
        raise malformed("SubscribeURL is not on https://sns.<region>.amazonaws.com/")
    try:
        response = await ctx.http.get(url)
        response.raise_for_status()
    except httpx.HTTPError as exc:
        raise WebhookError(503, f"could not confirm the SNS subscription: {exc}") from None
    log.info("confirmed SNS subscription to %s", topic)
    return Outcome(message=f"subscription to {topic} confirmed")


def _ses_outcome(text: JSON, raw_body: bytes | None) -> Outcome:
    try:
        ses = loads(text.encode() if isinstance(text, str) else raw_body or b"")
    except WebhookError:
        return Outcome(dead=["SNS message is not JSON, so not an SES event"])
    if not isinstance(ses, dict):
        return Outcome(dead=["SNS message is not an SES event (not a JSON object)"])
    outcome = Outcome()
    try:
        values, dead = ses_events(ses)
        outcome.records.extend([fast_record(v) or model_record(v) for v in values])
        outcome.dead.extend(dead)
    except (Skip, TypeError, ValueError, AttributeError, KeyError) as exc:
        # pydantic's ValidationError is a ValueError: a field we could not map
        outcome.dead.append(f"ses event #0: {str(exc)[:300]}")
    except RecursionError:
        outcome.dead.append("ses event #0: payload nested too deeply")
    return outcome


async def receive(incoming: Incoming, ctx: Context) -> Outcome:
    headers = incoming.headers
    raw = headers.get("x-amz-sns-rawdelivery", "").lower() == "true"
    data = loads(incoming.body)
    if not isinstance(data, dict):
        raise malformed("SNS body must be a JSON object")
    if raw or ("Signature" not in data and "Type" not in data):
        if headers.get("x-amz-sns-message-type", "Notification") != "Notification":
            raise malformed("raw delivery is only for Notification messages")
        check_basic_auth(incoming, ctx.basic_auth, "SNS raw message delivery")
        _check_topic(headers.get("x-amz-sns-topic-arn"), ctx)
        return _ses_outcome(None, incoming.body)
    await verify(data, ctx)
    try:
        sent = _parse_time(data.get("Timestamp"), "SNS Timestamp")
    except Skip as exc:
        raise malformed(str(exc)) from None
    check_fresh(sent, ctx.max_age_s, "SNS Timestamp")
    kind = data.get("Type")
    if kind == "SubscriptionConfirmation":
        return await _confirm(data, ctx)
    _check_topic(data.get("TopicArn"), ctx)
    if kind == "UnsubscribeConfirmation":
        return Outcome(message="unsubscribe confirmation noted")
    if kind != "Notification":
        return Outcome(dead=[f"unknown SNS message Type {str(kind)[:40]!r}"])
    return _ses_outcome(data.get("Message"), None)
