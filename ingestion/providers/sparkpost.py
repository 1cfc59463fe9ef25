"""SparkPost webhooks: batches of `{"msys": {"<class>_event": {...}}}`, with HTTP Basic."""

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
from murmur.events import EMAIL_ID_TAG, EmailEvent

P = "sparkpost"
_TYPES = {
    "injection": "send",
    "delivery": "delivery",
    "bounce": "bounce",
    "out_of_band": "bounce",
    "delay": "deferral",
    "spam_complaint": "complaint",
    "policy_rejection": "reject",
    "generation_failure": "reject",
    "generation_rejection": "reject",
    "open": "open",
    "initial_open": "open",
    "amp_open": "open",
    "amp_initial_open": "open",
    "click": "click",
    "amp_click": "click",
    "list_unsubscribe": "unsubscribe",
    "link_unsubscribe": "unsubscribe",
}
# SparkPost bounce classes (support article "Bounce Classification Codes")
_HARD = {"10", "25", "30", "90"}
_SOFT = {"20", "21", "22", "23", "24", "40", "50", "51", "52", "53", "54", "60", "70", "100"}


def _one(item: dict[str, Any]) -> list[EmailEvent]:
    msys = item.get("msys")
    if not isinstance(msys, dict):
        raise Skip("expected an object with msys")
    if not msys:
        return []  # SparkPost's webhook test ping: nothing to record
    body = next(iter(msys.values()))
    if not isinstance(body, dict):
        raise Skip("msys event is not an object")
    kind = str(body.get("type"))
    etype = _TYPES.get(kind)
    if etype is None:
        raise Skip(f"unknown event type {kind[:40]!r}")
    agent = text(body.get("user_agent"), 1000)
    fields: dict[str, JSON] = {
        "email_record_id": record_id((body.get("rcpt_meta") or {}).get(EMAIL_ID_TAG))
        if isinstance(body.get("rcpt_meta"), dict)
        else None,
        "provider_message_id": text(body.get("message_id"), 200),
        "ip_address": text(body.get("ip_address"), 64),
        "user_agent": agent,
        "url": text(body.get("target_link_url"), 4000),
        "diagnostic": text(body.get("raw_reason") or body.get("reason")),
        "machine_open": etype == "open" and machine_open(agent),
    }
    if etype == "bounce":
        cls = str(body.get("bounce_class"))
        fields["bounce_type"] = (
            "hard" if cls in _HARD else "soft" if cls in _SOFT else "undetermined"
        )
    recipient = text(body.get("rcpt_to") or body.get("raw_rcpt_to"), 320)
    stamp = parse_time(body.get("timestamp"))
    key = text(body.get("event_id"), 100)
    return [event(P, etype, key, body, timestamp=stamp, recipient=recipient, **fields)]


async def receive(incoming: Incoming, ctx: Context) -> Outcome:
    check_basic_auth(incoming, ctx.basic_auth, "SparkPost")
    return normalize_each(P, as_list(loads(incoming.body), "SparkPost"), _one)
