"""The normalized email event: one versioned schema for every ESP, our tracking and our sender.

Everything that reports on a message we sent (an ESP webhook, the open pixel, a click, the sender
itself) becomes an `EmailEvent`, serialized as JSON onto the Kafka topic `email-events` with the
email record id as key, and lands in the ClickHouse table `events`. `event_id` is deterministic:
the same provider event, however often it is delivered, always gets the same id, so every retry
collapses into one row.
"""

from __future__ import annotations

import hashlib
import json
import json.encoder
import uuid
from datetime import UTC, datetime
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator

SCHEMA_VERSION: Literal[1] = 1

PROVIDERS: tuple[str, ...] = (
    "ses",
    "sendgrid",
    "mailgun",
    "postmark",
    "sparkpost",
    "mailjet",
    "brevo",
    "smtp",  # our own sender through an SMTP relay (send / reject events)
    "tracking",  # our own open pixel, click redirect and unsubscribe endpoints
)

EventType = Literal[
    "send",
    "delivery",
    "deferral",
    "bounce",
    "complaint",
    "open",
    "click",
    "unsubscribe",
    "resubscribe",
    "reject",
    "drop",
]
BounceType = Literal["hard", "soft", "undetermined"]
# the same lists as tuples, for checks and SQL: derived, so the type and the values never drift
EVENT_TYPES: tuple[str, ...] = get_args(EventType)
BOUNCE_TYPES: tuple[str, ...] = get_args(BounceType)


class EmailEvent(BaseModel):
    """One normalized email event (schema version 1).

    Correlation: `email_record_id` comes from our own identifiers first (the `X-Murmur-Email-Id`
    header, the Message-ID we derive from the record, the ESP tag `murmur_email_id`), then from
    `provider_message_id` matched against `emails.esp_message_id`. An event that matches no record
    keeps `email_record_id`/`account_id` empty and is still stored (counted as unmatched).
    `recipient` is personal data: it goes only to the restricted store, never into `events`.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: Literal[1] = SCHEMA_VERSION
    event_id: str = Field(min_length=1, max_length=128)
    type: EventType
    timestamp: datetime
    provider: str = Field(min_length=1, max_length=32)
    provider_event_id: str | None = None
    provider_message_id: str | None = None
    email_record_id: int | None = None
    account_id: uuid.UUID | None = None
    campaign_id: int | None = None
    contact_id: int | None = None
    esp: str | None = None  # which configured ESP account sent the message, when known
    recipient: str | None = None
    recipient_domain: str | None = None
    bounce_type: BounceType | None = None
    diagnostic: str | None = None
    url: str | None = None
    ip_address: str | None = None
    user_agent: str | None = None
    machine_open: bool = False
    raw: dict[str, Any] | None = None

    @field_validator("timestamp")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    def kafka_key(self) -> bytes:
        """Partition key: the email record id, so ordering per email holds; else the event id."""
        key = str(self.email_record_id) if self.email_record_id is not None else self.event_id
        return key.encode()

    def to_json(self) -> bytes:
        return self.model_dump_json().encode()

    @classmethod
    def from_json(cls, data: bytes | str) -> EmailEvent:
        return cls.model_validate_json(data)


# `json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)` with its C encoder
# built once: `dumps` builds a JSONEncoder and a C encoder per call, a third of the cost for a
# small payload (the receiver hashes every SES event). Without a markers dict (a shared encoder
# could not keep one consistent) a circular payload ends in RecursionError, not ValueError.
_make_encoder: Any = getattr(json.encoder, "c_make_encoder", None)
_canonical: Any = (
    _make_encoder(
        None, str, json.encoder.encode_basestring_ascii, None, ":", ",", True, False, True
    )
    if _make_encoder is not None
    else None
)


def canonical_hash(payload: object) -> str:
    """A stable hash of a JSON-like payload (key order and whitespace do not matter)."""
    if _canonical is not None and isinstance(payload, dict | list):
        text = "".join(_canonical(payload, 0))
    else:
        text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def make_event_id(provider: str, event_type: str, key: str) -> str:
    """The deterministic event id of one event.

    `key` is the provider's own event id, or a hash of the provider's payload for this one event
    when it has none.
    """
    digest = hashlib.sha256(f"{provider}\x00{event_type}\x00{key}".encode()).hexdigest()
    return digest[:32]


def recipient_domain(address: str | None) -> str | None:
    """The lower-cased domain part of an address, or None."""
    if not address or "@" not in address:
        return None
    return address.rsplit("@", 1)[1].strip().lower().rstrip(">") or None


EMAIL_ID_HEADER = "X-Murmur-Email-Id"
EMAIL_ID_TAG = "murmur_email_id"
_MESSAGE_ID_PREFIX = "murmur."


def message_id_for(email_record_id: int, domain: str) -> str:
    """The Message-ID of the mail sent for one email record: `<murmur.ID@domain>`."""
    return f"<{_MESSAGE_ID_PREFIX}{email_record_id}@{domain}>"


def email_record_id_from_message_id(message_id: str | None) -> int | None:
    """The email record id encoded by `message_id_for`, or None for any other Message-ID."""
    if not message_id:
        return None
    local = message_id.strip().strip("<>").split("@", 1)[0]
    if not local.startswith(_MESSAGE_ID_PREFIX):
        return None
    digits = local[len(_MESSAGE_ID_PREFIX) :]
    return int(digits) if digits.isdigit() and len(digits) <= 18 else None
