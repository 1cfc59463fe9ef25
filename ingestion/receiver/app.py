"""The receiver's ASGI app: ESP webhooks and our tracking endpoints, answering after Kafka acks."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ingestion.providers import HANDLERS
from ingestion.providers.common import Incoming, Outcome
from ingestion.providers.detect import detect
from ingestion.receiver.context import Context, build_context, check_settings
from ingestion.receiver.dlq import dead_letter
from ingestion.receiver.errors import BrokerUnavailable, WebhookError
from ingestion.receiver.http import json_response, read_body
from ingestion.receiver.producer import EventProducer, Record
from ingestion.receiver.tracking_routes import Tracking
from murmur.kafka import DLQ_TOPIC, EVENTS_TOPIC
from murmur.settings import Settings

log = logging.getLogger(__name__)


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
        if self.ctx is None:
            raise RuntimeError("receiver not started")
        name = request.path_params.get("provider")
        try:
            body = await read_body(request, self.settings.webhook_max_bytes)
            incoming = Incoming(request.headers, body)
            if name is None:
                name = detect(incoming)
            handler = HANDLERS.get(name)
            if handler is None:
                known = ", ".join(HANDLERS)
                return json_response(
                    404, {"error": f"unknown provider {name[:40]!r}; known: {known}"}
                )
            outcome = await handler(incoming, self.ctx)
        except WebhookError as exc:
            return json_response(exc.status, {"error": exc.reason})
        records = [*outcome.records, *_serialize(outcome)]
        if outcome.dead:
            letter = dead_letter(name, outcome.dead, body, request.headers)
            records.append((DLQ_TOPIC, name.encode(), letter))
        try:
            await self.publish(records)
        except BrokerUnavailable as exc:
            if outcome.undo is not None:
                await outcome.undo()
            log.warning("%s webhook answered 503: %s", name, exc)
            return json_response(503, {"error": f"event broker unavailable, retry later: {exc}"})
        result: dict[str, Any] = {
            "status": outcome.message,
            "accepted": len(outcome.records) + len(outcome.events),
            "dead_lettered": len(outcome.dead),
        }
        if outcome.dead:
            result["reasons"] = outcome.dead[:20]
        return json_response(200, result)


def create_app(settings: Settings) -> Starlette:
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
        Route("/healthz", receiver.healthz, methods=["GET"]),
        Route("/api/v1/webhooks/esp-events", receiver.webhook, methods=["POST"]),
        Route("/api/v1/webhooks/esp-events/{provider}", receiver.webhook, methods=["POST"]),
        Route("/t/o/{name}", track.open_pixel, methods=["GET"]),
        Route("/t/c/{token}", track.click, methods=["GET"]),
        Route("/u/{token}", track.unsubscribe_page, methods=["GET"]),
        Route("/u/{token}", track.unsubscribe, methods=["POST"]),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.receiver = receiver
    return app


def app_from_env() -> Starlette:
    """App factory for multi-worker uvicorn: settings from the environment."""
    from murmur.settings import get_settings

    return create_app(get_settings())
