"""Mailjet event API (one object, or an array when grouped), authenticated by HTTP Basic."""

from __future__ import annotations

from typing import Any

import orjson

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
from murmur.events import EMAIL_ID_TAG, EmailEvent

P = "mailjet"
_TYPES = {
    "sent": "delivery",  # Mailjet's "sent" means the receiving server accepted it
    "open": "open",
    "click": "click",
    "bounce": "bounce",
    "spam": "complaint",
    "blocked": "drop",
    "unsub": "unsubscribe",
}


def _record(item: dict[str, Any]) -> int | None:
    """Our id from `CustomID` (digits or `murmur_email_id:N`) or the JSON `Payload`."""
    custom = item.get("CustomID")
    if isinstance(custom, str) and custom.startswith(EMAIL_ID_TAG + ":"):
        custom = custom.split(":", 1)[1]
    found = record_id(custom)
    payload = item.get("Payload")
    if found is None and isinstance(payload, str) and payload.startswith("{"):
        try:
            data = orjson.loads(payload)
        except orjson.JSONDecodeError:
            return None
        found = record_id(data.get(EMAIL_ID_TAG)) if isinstance(data, dict) else None
    return found


def _one(item: dict[str, Any]) -> list[EmailEvent]:
    kind = str(item.get("event"))
    etype = _TYPES.get(kind)
    if etype is None:
        raise Skip(f"unknown event type {kind[:40]!r}")
    agent = text(item.get("agent"), 1000)
    fields: dict[str, JSON] = {
        "email_record_id": _record(item),
        "provider_message_id": text(item.get("MessageID") or item.get("mj_message_id"), 200),
        "ip_address": text(item.get("ip"), 64),
        "user_agent": agent,
        "url": text(item.get("url"), 4000),
        "diagnostic": text(item.get("smtp_reply") or item.get("error") or item.get("comment")),
        "machine_open": etype == "open" and machine_open(agent),
    }
    if etype == "bounce":
        fields["bounce_type"] = "hard" if item.get("hard_bounce") is True else "soft"
    recipient = text(item.get("email"), 320)
    stamp = parse_time(item.get("time"))
    return [event(P, etype, None, item, timestamp=stamp, recipient=recipient, **fields)]


async def receive(incoming: Incoming, ctx: Context) -> Outcome:
    check_basic_auth(incoming, ctx.basic_auth, "Mailjet")
    return normalize_each(P, as_list(loads(incoming.body), "Mailjet"), _one)
