"""Which provider sent a request to the generic `POST /api/v1/webhooks/esp-events`."""

from __future__ import annotations

from ingestion.providers.common import JSON, Incoming, loads
from ingestion.providers.sendgrid import SIGNATURE_HEADER
from ingestion.receiver.errors import malformed


def _first(data: JSON) -> dict[str, JSON]:
    if isinstance(data, list) and data and isinstance(data[0], dict):
        return data[0]
    return data if isinstance(data, dict) else {}


def detect(incoming: Incoming) -> str:
    """The provider name from headers first, then the body's shape; 400 when it is unclear."""
    headers = incoming.headers
    if "x-amz-sns-message-type" in headers:
        return "ses"
    if SIGNATURE_HEADER in headers:
        return "sendgrid"
    first = _first(loads(incoming.body))
    if "signature" in first and "event-data" in first:
        return "mailgun"
    if "Type" in first and "TopicArn" in first:
        return "ses"
    if "mail" in first and ("eventType" in first or "notificationType" in first):
        return "ses"  # raw message delivery whose SNS headers a proxy dropped
    if "RecordType" in first:
        return "postmark"
    if "msys" in first:
        return "sparkpost"
    if "sg_event_id" in first or "sg_message_id" in first:
        return "sendgrid"
    if "event" in first and ("mj_campaign_id" in first or "Message_GUID" in first):
        return "mailjet"
    if "event" in first and ("message-id" in first or "ts_event" in first or "ts_epoch" in first):
        return "brevo"
    raise malformed(
        "cannot tell which provider sent this; post to /api/v1/webhooks/esp-events/<provider>"
    )
