"""The receiver's ASGI app: ESP webhooks and our tracking endpoints, answering after Kafka acks."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

from ingestion.providers import HANDLERS
from ingestion.providers.common import Incoming, Outcome
from ingestion.providers.detect import detect
from ingestion.receiver.context import Context, build_context, check_settings
from ingestion.receiver.dlq import dead_letter
from ingestion.receiver.errors import BrokerUnavailable, WebhookError
from ingestion.receiver.http import WEBHOOKS, check_size, json_response, read_stream
from ingestion.receiver.producer import EventProducer, Record
from ingestion.receiver.tracking_routes import Tracking
from murmur.kafka import DLQ_TOPIC, EVENTS_TOPIC
from murmur.settings import Settings

log = logging.getLogger(__name__)
_JSON_TYPE = (b"content-type", b"application/json")


def _json(body: dict[str, Any]) -> bytes:
    return orjson.dumps(body)


def _serialize(outcome: Outcome) -> list[Record]:
    """The events as Kafka records; one that cannot be serialized becomes a dead-letter reason."""
    try:
        return [(EVENTS_TOPIC, e.kafka_key(), e.to_json()) for e in outcome.events]
    except (ValueError, RecursionError):  # PydanticSerializationError is a ValueError
        pass
    records: list[Record] = []
    kept = []
    for event in outcome.events:
        try:
            records.append((EVENTS_TOPIC, event.kafka_key(), event.to_json()))
            kept.append(event)
        except (ValueError, RecursionError) as exc:
            outcome.dead.append(f"event {event.event_id} cannot be serialized: {str(exc)[:200]}")
    outcome.events = kept
    return records


class Receiver:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.ctx: Context | None = None
        self.producer: EventProducer | None = None
        self.tracking = Tracking(self)

    async def start(self) -> None:
        self.ctx = build_context(self.settings)
        self.producer = EventProducer(self.settings.require("kafka_bootstrap_servers"))

    async def stop(self) -> None:
        if self.producer is not None:
            await self.producer.close()
        if self.ctx is not None:
            await self.ctx.close()

    async def publish(self, records: list[Record]) -> None:
        if self.producer is None:
            raise RuntimeError("receiver not started")
        await self.producer.send(records)

    async def healthz(self, _request: Request) -> Response:
        return json_response(200, {"status": "ok"})

    async def webhook(self, request: Request) -> Response:
        """The Starlette route (the `FastWebhooks` middleware answers first, the same way)."""
        name = request.path_params.get("provider")
        status, body = await self.handle(name, request.headers, request.stream())
        return Response(body, status_code=status, media_type="application/json")

    async def handle(
        self,
        name: str | None,
        headers: Mapping[str, str],
        stream: AsyncIterator[bytes] | bytes,
    ) -> tuple[int, bytes]:
        """(status, JSON body) of one webhook request; `stream` may be the whole body already."""
        if self.ctx is None:
            raise RuntimeError("receiver not started")
        try:
            limit = self.settings.webhook_max_bytes
            if isinstance(stream, bytes):
                check_size(headers, len(stream), limit)
                body = stream
            else:
                body = await read_stream(headers, stream, limit)
            incoming = Incoming(headers, body)
            if name is None:
                name = detect(incoming)
            handler = HANDLERS.get(name)
            if handler is None:
                known = ", ".join(HANDLERS)
                return 404, _json({"error": f"unknown provider {name[:40]!r}; known: {known}"})
            outcome = await handler(incoming, self.ctx)
        except WebhookError as exc:
            return exc.status, _json({"error": exc.reason})
        records = [*outcome.records, *_serialize(outcome)]
        if outcome.dead:
            letter = dead_letter(name, outcome.dead, body, headers)
            records.append((DLQ_TOPIC, name.encode(), letter))
        try:
            await self.publish(records)
        except BrokerUnavailable as exc:
            if outcome.undo is not None:
                await outcome.undo()
            log.warning("%s webhook answered 503: %s", name, exc)
            return 503, _json({"error": f"event broker unavailable, retry later: {exc}"})
        result: dict[str, Any] = {
            "status": outcome.message,
            "accepted": len(outcome.records) + len(outcome.events),
            "dead_lettered": len(outcome.dead),
        }
        if outcome.dead:
            result["reasons"] = outcome.dead[:20]
        return 200, _json(result)


class _Disconnected(Exception):
    """The client went away before its body arrived: nothing to answer."""


class FastWebhooks:
    """The outermost ASGI app: answers webhook POSTs itself, without Starlette's layers.

    Single-event posts (SNS) arrive by the thousand per second; the Starlette route costs about
    as much as the handler. Only exact webhook paths are taken; everything else (another
    method, a deeper path, a mounted root path, the lifespan) goes on to the Starlette app,
    which answers as before. A body that arrives in one message (a single-event post) is taken
    as it is, without a chunk iterator.
    """

    def __init__(self, app: Starlette, receiver: Receiver) -> None:
        self.app = app
        self.receiver = receiver
        self.state = app.state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        name = _webhook(scope)
        if name is None:
            await self.app(scope, receive, send)
            return
        message: Message = await receive()
        if message["type"] == "http.disconnect":
            return
        first: bytes = message.get("body", b"")
        stream: AsyncIterator[bytes] | bytes = first
        if message.get("more_body", False):
            stream = _chunks(receive, first)
        try:
            status, body = await self.receiver.handle(name or None, Headers(scope=scope), stream)
        except _Disconnected:
            return
        length = (b"content-length", str(len(body)).encode())
        await send(
            {"type": "http.response.start", "status": status, "headers": [_JSON_TYPE, length]}
        )
        await send({"type": "http.response.body", "body": body})


def _webhook(scope: Scope) -> str | None:
    """The provider of a webhook POST ("" for the generic path), None for any other request."""
    if scope["type"] != "http" or scope["method"] != "POST" or scope.get("root_path"):
        return None
    path: str = scope["path"]
    if path == WEBHOOKS:
        return ""
    if not path.startswith(WEBHOOKS + "/"):
        return None
    name = path[len(WEBHOOKS) + 1 :]
    return name if name and "/" not in name else None


async def _chunks(receive: Receive, first: bytes) -> AsyncIterator[bytes]:
    if first:
        yield first
    while True:
        message: Message = await receive()
        if message["type"] == "http.disconnect":
            raise _Disconnected
        chunk = message.get("body", b"")
        if chunk:
            yield chunk
        if not message.get("more_body", False):
            return


def create_app(settings: Settings) -> FastWebhooks:
    """The ASGI app; the producer and clients start with the app's lifespan."""
    check_settings(settings)
    receiver = Receiver(settings.resolved())

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        await receiver.start()
        try:
            yield
        finally:
            await receiver.stop()

    track = receiver.tracking
    routes = [
        Route(f"{WEBHOOKS}/{{provider}}", receiver.webhook, methods=["POST"]),
        Route(WEBHOOKS, receiver.webhook, methods=["POST"]),
        Route("/healthz", receiver.healthz, methods=["GET"]),
        Route("/t/o/{name}", track.open_pixel, methods=["GET"]),
        Route("/t/c/{token}", track.click, methods=["GET"]),
        Route("/u/{token}", track.unsubscribe_page, methods=["GET"]),
        Route("/u/{token}", track.unsubscribe, methods=["POST"]),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.receiver = receiver
    return FastWebhooks(app, receiver)


def app_from_env() -> FastWebhooks:
    """App factory for multi-worker uvicorn: settings from the environment."""
    from murmur.settings import get_settings

    return create_app(get_settings())
