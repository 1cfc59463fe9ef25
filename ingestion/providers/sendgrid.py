"""SendGrid event webhook: signed batches (ECDSA P-256 over timestamp + raw body)."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from ingestion.providers.common import (
    Incoming,
    Outcome,
    Skip,
    as_list,
    loads,
    machine_open,
    normalize_records,
    parse_time,
    record_id,
    text,
)
from ingestion.providers.records import Values, values_of
from ingestion.receiver.context import Context
from ingestion.receiver.errors import malformed, unauthorized
from ingestion.receiver.replay import check_fresh
from murmur.events import EMAIL_ID_TAG, EmailEvent, email_record_id_from_message_id

P = "sendgrid"
SIGNATURE_HEADER = "x-twilio-email-event-webhook-signature"
TIMESTAMP_HEADER = "x-twilio-email-event-webhook-timestamp"
_TYPES = {
    "processed": "send",
    "dropped": "drop",
    "delivered": "delivery",
    "deferred": "deferral",
    "bounce": "bounce",
    "open": "open",
    "click": "click",
    "spamreport": "complaint",
    "unsubscribe": "unsubscribe",
    "group_unsubscribe": "unsubscribe",
    "group_resubscribe": "resubscribe",
}
_SOFT_CLASSES = {"Technical", "Content", "Reputation", "Frequency/Volume", "Mailbox Unavailable"}


def verify(incoming: Incoming, ctx: Context) -> None:
    if ctx.sendgrid_key is None:
        raise unauthorized("SendGrid webhooks need MURMUR_SENDGRID_WEBHOOK_PUBLIC_KEY")
    signature = incoming.headers.get(SIGNATURE_HEADER)
    stamp = incoming.headers.get(TIMESTAMP_HEADER)
    if not signature or not stamp:
        raise unauthorized("SendGrid webhook without signature and timestamp headers")
    try:
        sig = base64.b64decode(signature, validate=True)
        ctx.sendgrid_key.verify(sig, stamp.encode() + incoming.body, ec.ECDSA(hashes.SHA256()))
    except (binascii.Error, ValueError, InvalidSignature):
        raise unauthorized("SendGrid signature does not verify") from None
    if not stamp.strip().isdigit():
        raise malformed("SendGrid timestamp header is not Unix seconds")
    check_fresh(float(stamp), ctx.max_age_s, "SendGrid timestamp")


def bounce_type(item: dict[str, Any]) -> str:
    if item.get("type") == "blocked":
        return "soft"
    status = str(item.get("status") or "")
    if status.startswith("4"):
        return "soft"
    if status.startswith("5"):
        return "hard"
    cls = item.get("bounce_classification")
    if cls == "Invalid Address":
        return "hard"
    if cls in _SOFT_CLASSES:
        return "soft"
    return "undetermined" if cls == "Unclassified" else "hard"


def _values(item: dict[str, Any]) -> Values:
    """The normalized fields of one SendGrid event."""
    kind = item.get("event")
    etype = _TYPES.get(str(kind))
    if etype is None:
        raise Skip(f"unknown event type {str(kind)[:40]!r}")
    agent = text(item.get("useragent"), 1000)
    sg_id = text(item.get("sg_message_id"), 200)
    smtp_id = text(item.get("smtp-id"), 300)
    found = record_id(item.get(EMAIL_ID_TAG))
    if found is None:
        found = email_record_id_from_message_id(smtp_id)
    fields: Values = {
        "email_record_id": found,
        "provider_message_id": sg_id.split(".filter", 1)[0] if sg_id else None,
        "ip_address": text(item.get("ip"), 64),
        "user_agent": agent,
        "url": text(item.get("url"), 4000) if etype == "click" else None,
        "diagnostic": text(item.get("reason") or item.get("response")),
        "machine_open": etype == "open"
        and (item.get("sg_machine_open") is True or machine_open(agent)),
    }
    if etype == "bounce":
        fields["bounce_type"] = bounce_type(item)
    recipient = text(item.get("email"), 320)
    stamp = parse_time(item.get("timestamp"))
    key = text(item.get("sg_event_id"), 100)
    return values_of(P, etype, key, item, stamp, recipient, fields)


def _one(item: dict[str, Any]) -> list[EmailEvent]:
    return [EmailEvent(**_values(item))]


async def receive(incoming: Incoming, ctx: Context) -> Outcome:
    verify(incoming, ctx)
    return normalize_records(P, as_list(loads(incoming.body), "SendGrid"), _values)
