"""The receiver's cheaper paths give what the plain ones give: times, bodies."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import pytest
from starlette.testclient import TestClient

from ingestion.providers.common import Skip, parse_time
from tests.ingestion.conftest import MakeClient
from tests.ingestion.signing import basic_headers


@pytest.mark.unit
def test_parse_time_remembers_only_equal_values_of_the_same_type() -> None:
    first = parse_time(1_700_000_000)
    assert parse_time(1_700_000_000) is first
    with pytest.raises(Skip):
        parse_time(True)  # equal to 1 in Python, but not a time
    assert parse_time(1_700_000_001) == first + dt.timedelta(seconds=1)
    assert parse_time("1700000000") == first
    assert parse_time(1_700_000_000.5) == first + dt.timedelta(milliseconds=500)
    assert parse_time("2026-12-02T13:41:00Z") == dt.datetime(2026, 12, 2, 13, 41, tzinfo=dt.UTC)
    assert parse_time("2026-12-02T13:41:00Z") == dt.datetime(2026, 12, 2, 13, 41, tzinfo=dt.UTC)
    for bad in (None, "", "soon", [1]):
        with pytest.raises(Skip):
            parse_time(bad)


def _post_messages(client: TestClient, path: str, *bodies: bytes) -> tuple[int, bytes]:
    """An ASGI POST whose body comes in these messages, with no Content-Length header."""
    headers = [(k.lower().encode(), v.encode()) for k, v in basic_headers().items()]
    scope = {
        "type": "http",
        "method": "POST",
        "path": path,
        "root_path": "",
        "headers": headers,
        "query_string": b"",
    }
    sent: list[dict[str, Any]] = []
    queue = list(bodies)

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": queue.pop(0), "more_body": bool(queue)}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(client.app(scope, receive, send))  # type: ignore[arg-type]
    return sent[0]["status"], sent[1]["body"]


@pytest.mark.integration
def test_a_single_message_body_over_the_cap_is_413(make_client: MakeClient) -> None:
    small = make_client(webhook_max_bytes=1024)
    status, body = _post_messages(small, "/api/v1/webhooks/esp-events/postmark", b"x" * 2000)
    assert status == 413
    assert b"MURMUR_WEBHOOK_MAX_BYTES" in body
    status, body = _post_messages(small, "/api/v1/webhooks/esp-events/postmark", b"[1")
    assert status == 400  # under the cap: read and refused as not JSON


@pytest.mark.integration
def test_the_first_message_of_a_body_in_several_counts_against_the_cap(
    make_client: MakeClient,
) -> None:
    small = make_client(webhook_max_bytes=1024)
    path = "/api/v1/webhooks/esp-events/postmark"
    status, _ = _post_messages(small, path, b"x" * 600, b"x" * 600)
    assert status == 413
    status, body = _post_messages(small, path, b"[1", b"")
    assert status == 400
    assert b"not JSON" in body  # both messages read, then refused
