"""Postmark webhooks (one JSON object per post, `RecordType`), authenticated by HTTP Basic."""

from __future__ import annotations

from typing import Any

from ingestion.providers.common import (
    JSON,
    Incoming,
    Outcome,
    Skip,
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
from ingestion.receiver.errors import malformed
from murmur.events import EMAIL_ID_TAG, EmailEvent

P = "postmark"
_HARD = {"HardBounce", "BadEmailAddress", "ManuallyDeactivated", "AddressChange"}
_SOFT = {"SoftBounce", "Transient", "DnsError", "Blocked", "SMTPApiError", "ChallengeVerification"}
_NOT_BOUNCES = {"AutoResponder", "Subscribe", "Unsubscribe", "OpenRelayTest", "VirusNotification"}
_TIME_FIELD = {
    "Delivery": "DeliveredAt",
    "Bounce": "BouncedAt",
    "SpamComplaint": "BouncedAt",
    "Open": "ReceivedAt",
    "Click": "ReceivedAt",
    "SubscriptionChange": "ChangedAt",
}


def _obj(value: JSON) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _one(item: dict[str, Any]) -> list[EmailEvent]:
    record = str(item.get("RecordType"))
    fields: dict[str, JSON] = {}
    key: str | None = None
    if record == "Delivery":
        etype = "delivery"
        fields["diagnostic"] = text(item.get("Details"))
    elif record in ("Bounce", "SpamComplaint"):
        kind = str(item.get("Type"))
        key = text(item.get("ID"), 100)
        if record == "SpamComplaint" or kind == "SpamComplaint":
            etype = "complaint"
        elif kind in _NOT_BOUNCES:
            raise Skip(f"bounce record of type {kind!r} is not a delivery failure")
        else:
            etype = "bounce"
            hard, soft = kind in _HARD, kind in _SOFT
            fields["bounce_type"] = "hard" if hard else "soft" if soft else "undetermined"
        fields["diagnostic"] = text(item.get("Details") or item.get("Description"))
    elif record in ("Open", "Click"):
        etype = record.lower()
        agent = text(item.get("UserAgent"), 1000)
        fields.update(
            user_agent=agent,
            ip_address=text(_obj(item.get("Geo")).get("IP"), 64),
            machine_open=etype == "open" and machine_open(agent),
            url=text(item.get("OriginalLink"), 4000),
        )
    elif record == "SubscriptionChange":
        etype = "unsubscribe" if item.get("SuppressSending") is True else "resubscribe"
        fields["diagnostic"] = text(item.get("SuppressionReason"))
    else:
        raise Skip(f"unknown RecordType {record[:40]!r}")
    metadata = _obj(item.get("Metadata"))
    recipient = text(item.get("Recipient") or item.get("Email"), 320)
    stamp = parse_time(item.get(_TIME_FIELD[record]))
    fields.update(
        email_record_id=record_id(metadata.get(EMAIL_ID_TAG)),
        provider_message_id=text(item.get("MessageID"), 200),
    )
    return [event(P, etype, key, item, timestamp=stamp, recipient=recipient, **fields)]


async def receive(incoming: Incoming, ctx: Context) -> Outcome:
    check_basic_auth(incoming, ctx.basic_auth, "Postmark")
    data = loads(incoming.body)
    if not isinstance(data, dict):
        raise malformed("Postmark body must be one JSON object")
    return normalize_each(P, [data], _one)
