"""Amazon SES notifications (`notificationType`) and event publishing (`eventType`) → events."""

from __future__ import annotations

from typing import Any

from ingestion.providers.common import (
    JSON,
    Skip,
    items,
    machine_open,
    parse_time,
    record_id,
    text,
)
from ingestion.providers.records import Values, values_of
from murmur.events import EMAIL_ID_HEADER, EMAIL_ID_TAG, email_record_id_from_message_id

P = "ses"
_BOUNCE_TYPES = {"Permanent": "hard", "Transient": "soft", "Undetermined": "undetermined"}


def _obj(value: JSON) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _correlate(mail: dict[str, Any]) -> dict[str, Any]:
    """Our record id from the SES tag, our header, or our Message-ID; SES's own message id."""
    found = record_id(_obj(mail.get("tags")).get(EMAIL_ID_TAG))
    headers = items(mail.get("headers"))
    for header in headers:
        if found is not None:
            break
        if not isinstance(header, dict):
            continue
        name = str(header.get("name", "")).lower()
        if name == EMAIL_ID_HEADER.lower():
            found = record_id(header.get("value"))
        elif name == "message-id":
            found = email_record_id_from_message_id(text(header.get("value")))
    if found is None:
        common = _obj(mail.get("commonHeaders"))
        found = email_record_id_from_message_id(text(common.get("messageId")))
    return {"email_record_id": found, "provider_message_id": text(mail.get("messageId"), 200)}


def _address(item: JSON) -> str | None:
    if isinstance(item, dict):
        return text(item.get("emailAddress"), 320)
    return text(item, 320)


def ses_events(msg: dict[str, Any]) -> tuple[list[Values], list[str]]:
    """The events' fields of one SES message (one per recipient where SES lists recipients)."""
    kind = msg.get("eventType") or msg.get("notificationType")
    mail = _obj(msg.get("mail"))
    if not kind or not mail:
        raise Skip("message has no eventType/notificationType and mail: not an SES event")
    ids = _correlate(mail)
    destination = items(mail.get("destination"))
    only = _address(destination[0]) if len(destination) == 1 else None
    mail_time = mail.get("timestamp")

    def one(
        etype: str, key: str | None, ts: JSON, recipient: str | None, extra: Values | None = None
    ) -> Values:
        # the other fields as one dict: no keyword packing per event (a single-event SNS post
        # builds one; the model's field order comes from `values_of`'s template)
        fields = {**ids, **extra} if extra else ids
        return values_of(P, etype, key, msg, parse_time(ts or mail_time), recipient, fields)

    rcpts = destination or [None]
    if kind == "Bounce":
        bounce = _obj(msg.get("bounce"))
        btype = _BOUNCE_TYPES.get(str(bounce.get("bounceType")), "undetermined")
        fid = text(bounce.get("feedbackId"))
        out = []
        for rcpt in items(bounce.get("bouncedRecipients")) or [{}]:
            addr, r = _address(rcpt), _obj(rcpt)
            diag = text(r.get("diagnosticCode") or r.get("status") or bounce.get("bounceSubType"))
            key = f"{fid}:{addr}" if fid else None
            extra = {"bounce_type": btype, "diagnostic": diag}
            out.append(one("bounce", key, bounce.get("timestamp"), addr, extra))
        return out, []
    if kind == "Complaint":
        complaint = _obj(msg.get("complaint"))
        fid = text(complaint.get("feedbackId"))
        extra = {
            "diagnostic": text(complaint.get("complaintFeedbackType")),
            "user_agent": text(complaint.get("userAgent")),
        }
        out = []
        for rcpt in items(complaint.get("complainedRecipients")) or [{}]:
            addr = _address(rcpt)
            key = f"{fid}:{addr}" if fid else None
            out.append(one("complaint", key, complaint.get("timestamp"), addr, extra))
        return out, []
    if kind == "Delivery":
        delivery = _obj(msg.get("delivery"))
        diag = text(delivery.get("smtpResponse"))
        ts = delivery.get("timestamp")
        recipients = items(delivery.get("recipients")) or rcpts
        extra = {"diagnostic": diag}
        return [one("delivery", None, ts, _address(r), extra) for r in recipients], []
    if kind == "Send":
        return [one("send", None, mail_time, _address(r)) for r in rcpts], []
    if kind in ("Reject", "Rendering Failure"):
        detail = _obj(msg.get("reject") or msg.get("failure"))
        diag = text(detail.get("reason") or detail.get("errorMessage")) or kind
        extra = {"diagnostic": diag}
        return [one("reject", None, mail_time, _address(r), extra) for r in rcpts], []
    if kind == "DeliveryDelay":
        delay = _obj(msg.get("deliveryDelay"))
        out = []
        for rcpt in items(delay.get("delayedRecipients")) or [{}]:
            diag = text(_obj(rcpt).get("diagnosticCode")) or text(delay.get("delayType"))
            extra = {"diagnostic": diag}
            out.append(one("deferral", None, delay.get("timestamp"), _address(rcpt), extra))
        return out, []
    if kind in ("Open", "Click"):
        hit = _obj(msg.get(kind.lower()))
        agent = text(hit.get("userAgent"), 1000)
        hit_fields: dict[str, Any] = {
            "ip_address": text(hit.get("ipAddress"), 64),
            "user_agent": agent,
            "machine_open": kind == "Open" and machine_open(agent),
            "url": text(hit.get("link"), 4000),
        }
        return [one(kind.lower(), None, hit.get("timestamp"), only, hit_fields)], []
    if kind == "Subscription":
        sub = _obj(msg.get("subscription"))
        prefs = _obj(sub.get("newTopicPreferences"))
        topics = items(prefs.get("topicSubscriptionStatus"))
        opted_out = prefs.get("unsubscribeAll") is True or any(
            _obj(t).get("subscriptionStatus") == "OptOut" for t in topics
        )
        etype = "unsubscribe" if opted_out else "resubscribe"
        extra = {"diagnostic": text(sub.get("source"))}
        return [one(etype, None, sub.get("timestamp"), only, extra)], []
    return [], [f"unknown SES event type {str(kind)[:40]!r}"]
