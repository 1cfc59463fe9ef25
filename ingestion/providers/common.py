"""What every provider module shares: the request, the outcome, and normalization helpers."""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson

from ingestion.providers.records import (
    Record,
    Values,
    event_values,
    fast_record,
    model_record,
)
from ingestion.receiver.errors import malformed, unauthorized
from murmur.events import (
    EmailEvent,
    email_record_id_from_message_id,
)

if TYPE_CHECKING:
    from ingestion.receiver.context import Context

JSON = Any


@dataclass(frozen=True)
class Incoming:
    """One webhook request: headers (case-insensitive lookups) and the raw body bytes."""

    headers: Mapping[str, str]
    body: bytes


@dataclass
class Outcome:
    """What a request produced: events to publish and reasons for content we could not read."""

    events: list[EmailEvent] = field(default_factory=list)
    records: list[Record] = field(default_factory=list)  # events already serialized
    dead: list[str] = field(default_factory=list)
    message: str = "ok"
    undo: Callable[[], Awaitable[None]] | None = None  # run when publishing fails


Handler = Callable[[Incoming, "Context"], Awaitable[Outcome]]


class Skip(Exception):
    """One event of a batch that we do not understand; dead-lettered with this reason."""


def normalize_each(
    provider: str, items: list[JSON], one: Callable[[JSON], list[EmailEvent]]
) -> Outcome:
    """Normalize each item of a batch; an item we cannot read becomes a dead-letter reason."""
    outcome = Outcome()
    for index, item in enumerate(items):
        try:
            if not isinstance(item, dict):
                raise Skip(f"expected an object, got {type(item).__name__}")
            outcome.events.extend(one(item))
        except (Skip, TypeError, ValueError, AttributeError, KeyError) as exc:
            # pydantic's ValidationError is a ValueError: a field we could not map
            outcome.dead.append(f"{provider} event #{index}: {str(exc)[:300]}")
        except RecursionError:
            outcome.dead.append(f"{provider} event #{index}: payload nested too deeply")
    return outcome


def normalize_records(
    provider: str, items: list[JSON], values: Callable[[JSON], Values]
) -> Outcome:
    """`normalize_each` for one event per item, straight into Kafka records, in item order."""
    outcome = Outcome()
    records = outcome.records
    for index, item in enumerate(items):
        try:
            if not isinstance(item, dict):
                raise Skip(f"expected an object, got {type(item).__name__}")
            fields = values(item)
            records.append(fast_record(fields) or model_record(fields))
        except (Skip, TypeError, ValueError, AttributeError, KeyError) as exc:
            outcome.dead.append(f"{provider} event #{index}: {str(exc)[:300]}")
        except RecursionError:
            outcome.dead.append(f"{provider} event #{index}: payload nested too deeply")
    return outcome


def items(value: JSON) -> list[JSON]:
    """`value` when it is a list, else an empty list (hostile payloads put anything anywhere)."""
    return value if isinstance(value, list) else []


def loads(body: bytes) -> JSON:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise malformed(f"body is not JSON: {exc}") from None


def as_list(data: JSON, what: str) -> list[JSON]:
    """A batch body: a JSON array (or one object, which some providers send alone)."""
    if isinstance(data, dict):
        return [data]
    if not isinstance(data, list):
        raise malformed(f"{what} body must be a JSON array or object, got {type(data).__name__}")
    return data


def check_basic_auth(incoming: Incoming, expected: str | None, provider: str) -> None:
    """HTTP Basic against `MURMUR_WEBHOOK_BASIC_AUTH`; unset means every request is refused."""
    if not expected:
        raise unauthorized(f"{provider} webhooks need MURMUR_WEBHOOK_BASIC_AUTH=user:password")
    header = incoming.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or not value:
        raise unauthorized(f"{provider} webhook without HTTP Basic credentials")
    try:
        given = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise unauthorized("malformed HTTP Basic credentials") from None
    if not hmac.compare_digest(given, expected.encode()):
        raise unauthorized(f"wrong HTTP Basic credentials for {provider} webhook")


class _Unset:
    """No value is of this class: the cache below starts empty."""


# the last value `parse_time` read and its result: a batch's events mostly share one timestamp
_last_time: tuple[type, JSON, datetime] = (_Unset, None, datetime.min.replace(tzinfo=UTC))


def parse_time(value: JSON, what: str = "timestamp") -> datetime:
    """Unix seconds (number or digits, ms when huge) or ISO 8601; naive means UTC."""
    global _last_time
    kind, last, parsed = _last_time
    if value.__class__ is kind and value == last:
        return parsed  # datetimes are immutable: the same object serves every event
    parsed = _parse_time(value, what)
    if value.__class__ in (int, str):
        _last_time = (value.__class__, value, parsed)
    return parsed


def _parse_time(value: JSON, what: str) -> datetime:
    try:
        if isinstance(value, bool):
            raise ValueError
        if isinstance(value, int | float) or (isinstance(value, str) and _numeric(value)):
            seconds = float(value)
            if seconds > 1e11:  # milliseconds
                seconds /= 1000.0
            return datetime.fromtimestamp(seconds, UTC)
        if isinstance(value, str) and value:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace(" ", "T", 1))
            return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    except (ValueError, OverflowError, OSError):
        pass
    raise Skip(f"{what} {str(value)[:40]!r} is not a time")


def _numeric(text: str) -> bool:
    head, _, tail = text.partition(".")
    return head.isdigit() and (not tail or tail.isdigit())


def record_id(value: JSON) -> int | None:
    """Our email record id from a tag / custom argument / metadata value (str, int or [str])."""
    if isinstance(value, list) and value:
        value = value[0]
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 <= value < 2**63 else None
    if isinstance(value, str):
        text = value.strip()
        if text.isdigit() and len(text) <= 18:
            return int(text)
        return email_record_id_from_message_id(text)
    return None


_MACHINE_AGENTS = ("googleimageproxy", "ggpht.com", "yahoomailproxy", "apple mail privacy")


def machine_open(user_agent: str | None) -> bool:
    """Opens fetched by a mailbox proxy, not a person: Apple MPP and known image proxies."""
    if not user_agent:
        return False
    text = user_agent.strip()
    if text == "Mozilla/5.0":  # Apple Mail Privacy Protection fetches with this bare agent
        return True
    low = text.lower()
    return any(agent in low for agent in _MACHINE_AGENTS)


def text(value: JSON, limit: int = 2000) -> str | None:
    if value is None or value == "":
        return None
    return str(value)[:limit]


def event(
    provider: str,
    event_type: str,
    key: str | None,
    payload: JSON,
    *,
    timestamp: datetime,
    recipient: str | None = None,
    **fields: Any,
) -> EmailEvent:
    """One normalized event; `key` is the provider's event id, else the payload hash is used."""
    values = event_values(
        provider, event_type, key, payload, timestamp=timestamp, recipient=recipient, **fields
    )
    return EmailEvent(**values)
