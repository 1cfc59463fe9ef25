"""Brevo (Sendinblue) transactional webhooks, one object or a batch array, with HTTP Basic."""

from __future__ import annotations

from typing import Any

from ingestion.providers.common import (
    JSON,
    Incoming,
    Outcome,
    Skip,
    as_list,
    check_basic_auth,
    event,
    loads,
    machine_open,
    normalize_each,
    parse_time,
    record_id,
    text,
)
from ingestion.receiver.context import Context
from murmur.events import EMAIL_ID_TAG, EmailEvent, email_record_id_from_message_id

P = "brevo"
_TYPES = {
    "request": "send",
    "delivered": "delivery",
    "deferred": "deferral",
    "soft_bounce": "bounce",
    "hard_bounce": "bounce",
    "invalid_email": "bounce",
    "blocked": "drop",
    "error": "reject",
    "complaint": "complaint",
    "spam": "complaint",
    "unsubscribed": "unsubscribe",
    "opened": "open",
    "unique_opened": "open",
    "proxy_open": "open",
    "unique_proxy_open": "open",
    "click": "click",
}
_BOUNCE = {"soft_bounce": "soft", "hard_bounce": "hard", "invalid_email": "hard"}


def _record(item: dict[str, Any], message_id: str | None) -> int | None:
    custom = item.get("X-Mailin-custom")
    if isinstance(custom, str) and custom.startswith(EMAIL_ID_TAG + ":"):
        custom = custom.split(":", 1)[1].split("|", 1)[0]
    found = record_id(custom)
    return found if found is not None else email_record_id_from_message_id(message_id)


def _one(item: dict[str, Any]) -> list[EmailEvent]:
    kind = str(item.get("event"))
    etype = _TYPES.get(kind)
    if etype is None:
        raise Skip(f"unknown event type {kind[:40]!r}")
    agent = text(item.get("user_agent"), 1000)
    message_id = text(item.get("message-id"), 300)
    fields: dict[str, JSON] = {
        "email_record_id": _record(item, message_id),
        "provider_message_id": message_id,
        "ip_address": text(item.get("ip"), 64),
        "user_agent": agent,
        "url": text(item.get("link"), 4000),
        "diagnostic": text(item.get("reason")),
        "machine_open": etype == "open" and ("proxy" in kind or machine_open(agent)),
    }
    if etype == "bounce":
        fields["bounce_type"] = _BOUNCE[kind]
    stamp_value = item.get("ts_epoch") or item.get("ts_event") or item.get("ts") or item.get("date")
    stamp = parse_time(stamp_value)
    recipient = text(item.get("email"), 320)
    return [event(P, etype, None, item, timestamp=stamp, recipient=recipient, **fields)]


async def receive(incoming: Incoming, ctx: Context) -> Outcome:
    check_basic_auth(incoming, ctx.basic_auth, "Brevo")
    return normalize_each(P, as_list(loads(incoming.body), "Brevo"), _one)
