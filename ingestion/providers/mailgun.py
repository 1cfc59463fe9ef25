"""Mailgun webhooks (JSON): HMAC-SHA256 of timestamp + token; each token is accepted once."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from ingestion.providers.common import (
    JSON,
    Incoming,
    Outcome,
    Skip,
    event,
    loads,
    machine_open,
    normalize_each,
    parse_time,
    record_id,
    text,
)
from ingestion.receiver.context import Context
from ingestion.receiver.errors import malformed, unauthorized
from ingestion.receiver.replay import check_fresh
from murmur.events import EMAIL_ID_TAG, EmailEvent, email_record_id_from_message_id

P = "mailgun"
_TYPES = {
    "accepted": "send",
    "delivered": "delivery",
    "opened": "open",
    "clicked": "click",
    "complained": "complaint",
    "unsubscribed": "unsubscribe",
    "rejected": "reject",
}
_SUPPRESSED = ("suppress-bounce", "suppress-unsubscribe", "suppress-complaint")


def _obj(value: JSON) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _signature(data: dict[str, Any], ctx: Context) -> tuple[str, str]:
    if ctx.mailgun_key is None:
        raise unauthorized("Mailgun webhooks need MURMUR_MAILGUN_WEBHOOK_SIGNING_KEY")
    sig = data.get("signature")
    if not isinstance(sig, dict):
        raise unauthorized("Mailgun webhook without a signature object")
    stamp, token, given = sig.get("timestamp"), sig.get("token"), sig.get("signature")
    if not (
        isinstance(stamp, str)
        and stamp
        and isinstance(token, str)
        and token
        and isinstance(given, str)
        and given
    ):
        raise unauthorized("Mailgun signature needs timestamp, token and signature strings")
    expected = hmac.new(ctx.mailgun_key, (stamp + token).encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, given.lower()):
        raise unauthorized("Mailgun signature does not verify")
    if not stamp.isdigit():
        raise malformed("Mailgun signature timestamp is not Unix seconds")
    check_fresh(float(stamp), ctx.max_age_s, "Mailgun timestamp")
    return stamp, token


def _one(item: dict[str, Any]) -> list[EmailEvent]:
    kind = str(item.get("event"))
    status = _obj(item.get("delivery-status"))
    fields: dict[str, JSON] = {}
    if kind == "failed":
        reason = str(item.get("reason") or "")
        if reason in _SUPPRESSED:
            etype = "drop"
        elif item.get("severity") == "temporary":
            etype = "deferral"
        else:
            etype = "bounce"
            fields["bounce_type"] = (
                "hard" if item.get("severity") == "permanent" else "undetermined"
            )
    else:
        found_type = _TYPES.get(kind)
        if found_type is None:
            raise Skip(f"unknown event type {kind[:40]!r}")
        etype = found_type
    client = _obj(item.get("client-info"))
    agent = text(client.get("user-agent"), 1000)
    message_id = text(_obj(_obj(item.get("message")).get("headers")).get("message-id"), 300)
    found = record_id(_obj(item.get("user-variables")).get(EMAIL_ID_TAG))
    if found is None and message_id:
        found = email_record_id_from_message_id(f"<{message_id.strip('<>')}>")
    fields.update(
        email_record_id=found,
        provider_message_id=message_id,
        ip_address=text(item.get("ip"), 64),
        user_agent=agent,
        url=text(item.get("url"), 4000),
        diagnostic=text(status.get("description") or status.get("message") or item.get("reason")),
        machine_open=etype == "open" and machine_open(agent),
    )
    recipient = text(item.get("recipient"), 320)
    stamp = parse_time(item.get("timestamp"))
    key = text(item.get("id"), 100)
    return [event(P, etype, key, item, timestamp=stamp, recipient=recipient, **fields)]


async def receive(incoming: Incoming, ctx: Context) -> Outcome:
    data = loads(incoming.body)
    if not isinstance(data, dict):
        raise malformed("Mailgun body must be a JSON object with signature and event-data")
    _stamp, token = _signature(data, ctx)
    payload = data.get("event-data")
    if not isinstance(payload, dict):
        raise malformed("Mailgun body lacks the event-data object")
    outcome = normalize_each(P, [payload], _one)
    if ctx.max_age_s > 0:
        if not await ctx.tokens.claim(P, token):
            raise unauthorized("Mailgun signature token already used: replayed request")

        async def undo() -> None:
            await ctx.tokens.release(P, token)

        outcome.undo = undo
    return outcome
