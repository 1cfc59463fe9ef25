"""Request field types shared by the routers (Postgres text cannot hold NUL)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path, Query
from pydantic import AfterValidator, StringConstraints

from murmur.email_address import InvalidEmail, normalize_email

MAX_ID = 2**63 - 1


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


def _email(value: str) -> str:
    try:
        return normalize_email(value)
    except InvalidEmail as exc:
        raise ValueError(f"invalid email address: {exc}") from None


def _json_no_nul(value: Any) -> Any:
    if isinstance(value, str):
        _no_nul(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            _no_nul(str(key))
            _json_no_nul(item)
    elif isinstance(value, list):
        for item in value:
            _json_no_nul(item)
    return value


Name = Annotated[str, StringConstraints(min_length=1, max_length=200), AfterValidator(_no_nul)]
ShortText = Annotated[str, StringConstraints(max_length=1000), AfterValidator(_no_nul)]
LongText = Annotated[str, StringConstraints(max_length=1_000_000), AfterValidator(_no_nul)]
Email = Annotated[str, StringConstraints(max_length=320), AfterValidator(_email)]
JsonObject = Annotated[dict[str, Any], AfterValidator(_json_no_nul)]

IdPath = Annotated[int, Path(ge=1, le=MAX_ID)]
Limit = Annotated[int, Query(ge=1, le=500, description="page size (max 500)")]
Offset = Annotated[int, Query(ge=0, le=2**31, description="rows to skip")]
After = Annotated[
    int | None, Query(ge=0, le=MAX_ID, description="keyset cursor: only ids greater than this")
]
