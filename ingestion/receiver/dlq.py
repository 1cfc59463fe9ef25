"""Dead letters: the reason and the original request bytes, on `email-events-dlq`."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from datetime import UTC, datetime

import orjson

_KEPT_HEADERS = (
    "content-type",
    "user-agent",
    "x-amz-sns-message-type",
    "x-amz-sns-message-id",
    "x-amz-sns-topic-arn",
    "x-amz-sns-rawdelivery",
    "x-twilio-email-event-webhook-timestamp",
)
_MAX_ERROR = 4000


def dead_letter(provider: str, errors: list[str], body: bytes, headers: Mapping[str, str]) -> bytes:
    """The DLQ record (JSON) for one request; key it by `provider`."""
    error = "; ".join(errors)
    if len(error) > _MAX_ERROR:
        error = error[:_MAX_ERROR] + f"... ({len(errors)} reasons)"
    return orjson.dumps(
        {
            "error": error,
            "provider": provider,
            "received_at": datetime.now(UTC).isoformat(),
            "original_b64": base64.b64encode(body).decode(),
            "headers": {h: headers[h] for h in _KEPT_HEADERS if h in headers},
        }
    )
