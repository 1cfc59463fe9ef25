"""Sink of the feedback role: each relevant event in its own Postgres transaction, exactly once."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from ingestion.consumer.abstract import MessageRejected, Row, SinkResult
from murmur.domain.feedback import DUPLICATE, FEEDBACK_TYPES, SUPPRESSED, apply_feedback
from murmur.events import EmailEvent

log = logging.getLogger("ingestion.feedback")


class FeedbackSink:
    name = "feedback"

    def __init__(self, engine: sa.Engine, soft_bounce_limit: int, window_days: int) -> None:
        self.engine = engine
        self.limit = soft_bounce_limit
        self.window = timedelta(days=window_days)
        self.outcomes: Counter[str] = Counter()

    def prepare(self) -> None:
        try:
            with self.engine.connect() as conn:
                conn.execute(sa.text("select 1 from feedback_events limit 1"))
        except DBAPIError as exc:
            reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
            raise MessageRejected(
                f"Postgres not ready (run `murmur db upgrade`?): {reason}"
            ) from exc

    def accepts(self, event: Row) -> bool:
        return event["type"] in FEEDBACK_TYPES

    def write(self, events: Sequence[Row], stored: set[str] | None = None) -> SinkResult:
        result = SinkResult()
        for row in events:
            if not self.accepts(row):
                continue
            event = EmailEvent.model_validate(row)  # few: only feedback events get here
            try:
                with self.engine.begin() as conn:
                    outcome = apply_feedback(conn, event, self.limit, self.window)
            except DBAPIError as exc:
                reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
                raise MessageRejected(f"feedback for event {event.event_id}: {reason}") from exc
            self.outcomes[outcome] += 1
            if outcome == DUPLICATE:
                result.duplicates += 1
            else:
                result.written += 1
            if outcome == SUPPRESSED:
                log.info(
                    "feedback: event %s (%s) suppressed its address", event.event_id, event.type
                )
        return result

    def close(self) -> None:
        """The engine belongs to the caller."""
