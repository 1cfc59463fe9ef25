"""Read the messages of an error answer, whatever its shape (a string, or validation items)."""

from __future__ import annotations

from typing import Any


def detail_text(body: dict[str, Any]) -> str:
    """Every `msg` of a 4xx `detail` joined (the API answers 422 in the validation shape)."""
    detail = body.get("detail")
    if isinstance(detail, list):
        return " | ".join(str(item.get("msg", item)) for item in detail)
    return str(detail)
