"""Small HTTP helpers shared by the webhook and tracking routes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from ingestion.receiver.errors import WebhookError

WEBHOOKS = "/api/v1/webhooks/esp-events"  # the webhook paths: this and WEBHOOKS/{provider}


def json_response(status: int, body: dict[str, Any]) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it passes `limit` bytes."""
    return await read_stream(request.headers, request.stream(), limit)


async def read_stream(
    headers: Mapping[str, str], stream: AsyncIterator[bytes], limit: int
) -> bytes:
    """A body from its chunks, refused with 413 as soon as it passes `limit` bytes."""
    check_size(headers, 0, limit)
    chunks, size = [], 0
    async for chunk in stream:
        size += len(chunk)
        if size > limit:
            raise WebhookError(413, f"body exceeds {limit} bytes (MURMUR_WEBHOOK_MAX_BYTES)")
        chunks.append(chunk)
    return b"".join(chunks)


def check_size(headers: Mapping[str, str], size: int, limit: int) -> None:
    """413 when the declared Content-Length or the `size` read so far passes `limit`."""
    declared = headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise WebhookError(
            413, f"body of {declared} bytes exceeds {limit} (MURMUR_WEBHOOK_MAX_BYTES)"
        )
    if size > limit:
        raise WebhookError(413, f"body exceeds {limit} bytes (MURMUR_WEBHOOK_MAX_BYTES)")
