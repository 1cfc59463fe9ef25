"""Step 4: fill account, campaign, contact and ESP from the send ledger, one query per batch.

The receiver fills only what a payload says. Here events with an `email_record_id` take the
ledger row's ids; events with only a `provider_message_id` are resolved through
`emails.esp_message_id`. An event that matches nothing keeps `account_id` empty (unmatched).
Rows are updated in place (doing it twice, on a retried batch, gives the same rows).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import DBAPIError

from ingestion.consumer.abstract import MessageRejected, Row
from murmur.db.tables import emails

# one array parameter per lookup (`= any(%s)`), not thousands of IN parameters
_BIGINTS = ARRAY(sa.BigInteger)
_TEXTS = ARRAY(sa.Text)
_LEDGER_COLUMNS = (
    emails.c.email_record_id,
    emails.c.account_id,
    emails.c.campaign_id,
    emails.c.contact_id,
    emails.c.esp,
    emails.c.esp_message_id,
)


@dataclass(frozen=True)
class Enriched:
    events: list[Row]
    unmatched: int


class Enricher:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def enrich(self, events: Sequence[Row]) -> Enriched:
        record_ids = {e["email_record_id"] for e in events}
        record_ids.discard(None)
        message_ids = {
            e["provider_message_id"]
            for e in events
            if e["email_record_id"] is None and e["provider_message_id"]
        }
        by_record: dict[int, dict[str, Any]] = {}
        by_message: dict[str, dict[str, Any]] = {}
        if record_ids or message_ids:
            try:
                with self.engine.connect() as conn:
                    if record_ids:
                        rows = conn.execute(
                            sa.select(*_LEDGER_COLUMNS).where(
                                emails.c.email_record_id
                                == sa.any_(sa.literal(sorted(record_ids), _BIGINTS))
                            )
                        ).all()
                        by_record = {r[0]: _updates(*r) for r in rows}
                    if message_ids:
                        rows = conn.execute(
                            sa.select(*_LEDGER_COLUMNS).where(
                                emails.c.esp_message_id
                                == sa.any_(sa.literal(sorted(message_ids), _TEXTS))
                            )
                        ).all()
                        by_message = {r[5]: _updates(*r) for r in rows}
            except DBAPIError as exc:
                reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
                hint = " (is the app database migrated? `murmur db upgrade`)"
                raise MessageRejected(f"ledger lookup failed: {reason}{hint}") from exc
        unmatched = 0
        for event in events:
            record = event["email_record_id"]
            if record is not None:
                updates = by_record.get(record)
            else:
                updates = by_message.get(event["provider_message_id"] or "")
            if updates is not None:
                esp = event["esp"]
                event.update(updates)
                if updates["esp"] is None:
                    event["esp"] = esp
            if event["account_id"] is None:
                unmatched += 1
        return Enriched(list(events), unmatched)


def _updates(
    record_id: int, account_id: Any, campaign_id: Any, contact_id: Any, esp: Any, _message: Any
) -> dict[str, Any]:
    """The ledger is the truth for ids (computed once per ledger row, not per event).

    The arguments are a row of `_LEDGER_COLUMNS`, in that order.
    """
    return {
        "email_record_id": record_id,
        "account_id": account_id if isinstance(account_id, uuid.UUID) else uuid.UUID(account_id),
        "campaign_id": campaign_id,
        "contact_id": contact_id,
        "esp": esp,
    }
