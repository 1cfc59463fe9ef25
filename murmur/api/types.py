"""Request field types shared by the routers (Postgres text cannot hold NUL).

Required text (`Name`, `RequiredText`, `RequiredLongText`) refuses whitespace-only values; ids in
bodies (`RefId`) are strict integers (no `true` or `"5"`) in Postgres' bigint range;
`JsonObject` is at most `MAX_JSON_BYTES` serialized, `MAX_JSON_DEPTH` deep, with no NaN/Infinity.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Path, Query
from pydantic import AfterValidator, Field, Strict, StringConstraints

from murmur.email_address import InvalidEmail, normalize_email

MAX_ID = 2**63 - 1
MAX_JSON_BYTES = 64 * 1024
MAX_JSON_DEPTH = 32


def _no_nul(value: str) -> str:
    """Text Postgres can store: no NUL, no lone surrogates (such as U+D800)."""
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode (no lone surrogates)") from None
    return value


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank (only whitespace)")
    return value


def _timestamp(value: datetime) -> datetime:
    """Naive means UTC; the instant must be representable (years 1-9999 in UTC)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("date is out of range (years 1 to 9999 in UTC)") from None


def _email(value: str) -> str:
    try:
        return normalize_email(value)
    except InvalidEmail as exc:
        raise ValueError(f"invalid email address: {exc}") from None


def _json_values(value: Any) -> None:
    """Walk the JSON value without recursion: text Postgres can store, finite numbers, depth."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise ValueError(f"is nested more than {MAX_JSON_DEPTH} levels deep")
        if isinstance(item, str):
            _no_nul(item)
        elif isinstance(item, float) and not math.isfinite(item):
            raise ValueError("numbers must be finite (no NaN or Infinity)")
        elif isinstance(item, dict):
            for key, child in item.items():
                _no_nul(str(key))
                stack.append((child, depth + 1))
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)


def _json_object(value: dict[str, Any]) -> dict[str, Any]:
    _json_values(value)
    size = len(json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass"))
    if size > MAX_JSON_BYTES:
        raise ValueError(f"is {size} bytes as JSON; the limit is {MAX_JSON_BYTES} bytes")
    return value


_NO_NUL = AfterValidator(_no_nul)
_NOT_BLANK = AfterValidator(_not_blank)
Name = Annotated[str, StringConstraints(min_length=1, max_length=200), _NO_NUL, _NOT_BLANK]
ShortText = Annotated[str, StringConstraints(max_length=1000), _NO_NUL]
RequiredText = Annotated[str, StringConstraints(min_length=1, max_length=1000), _NO_NUL, _NOT_BLANK]
LongText = Annotated[str, StringConstraints(max_length=1_000_000), _NO_NUL]
RequiredLongText = Annotated[
    str, StringConstraints(min_length=1, max_length=1_000_000), _NO_NUL, _NOT_BLANK
]
Email = Annotated[str, StringConstraints(max_length=320), AfterValidator(_email)]
JsonObject = Annotated[
    dict[str, Any],
    AfterValidator(_json_object),
    Field(description=f"a JSON object of at most {MAX_JSON_BYTES} bytes (serialized)"),
]
Timestamp = Annotated[datetime, AfterValidator(_timestamp)]
RefId = Annotated[int, Strict(), Field(ge=1, le=MAX_ID, description="id of an object")]

IdPath = Annotated[int, Path(ge=1, le=MAX_ID)]
Limit = Annotated[int, Query(ge=1, le=500, description="page size (max 500)")]
Offset = Annotated[int, Query(ge=0, le=2**31, description="rows to skip")]
After = Annotated[
    int | None, Query(ge=0, le=MAX_ID, description="keyset cursor: only ids greater than this")
]
