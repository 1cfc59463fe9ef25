"""`PgStore`: the Store Protocol over the Postgres send ledger (SQL in sender/queries)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from clickhouse_connect.driver.client import Client

from murmur.domain.campaign_content import campaign_content
from murmur.domain.errors import InvalidInput
from murmur.domain.sending import (
    DispatchError,
    finish_if_done,
    refuse_unless_compliant,
    skip_unsendable,
    start_dispatch,
)
from sender.models import Campaign, Recipient
from sender.queries import query


def _q(name: str) -> sa.TextClause:
    return sa.text(query("ledger", name))


class PgStore:
    """`clickhouse` opens a client (or None) for the snapshot: see `murmur.domain.sending`."""

    def __init__(
        self, engine: sa.Engine, clickhouse: Callable[[], Client | None] | None = None
    ) -> None:
        self.engine = engine
        self.clickhouse = clickhouse

    def start(self, campaign_id: int) -> Campaign:
        refuse_unless_compliant(self.engine, campaign_id)
        ch = self.clickhouse() if self.clickhouse is not None else None
        try:
            with self.engine.begin() as conn:
                row = start_dispatch(conn, campaign_id, clickhouse=ch)
                return _campaign(conn, row)
        finally:
            if ch is not None:
                ch.close()

    def status(self, campaign_id: int) -> str:
        with self.engine.connect() as conn:
            status = conn.execute(_q("campaign-status"), {"campaign_id": campaign_id}).scalar()
        if status is None:
            raise DispatchError(f"campaign {campaign_id} not found")
        return str(status)

    def claim(
        self, campaign: Campaign, shard: int, shards: int, limit: int, lease_seconds: int
    ) -> list[Recipient]:
        params = {
            "campaign_id": campaign.campaign_id,
            "shard": shard,
            "shards": shards,
            "batch_size": limit,
            "lease_seconds": lease_seconds,
        }
        with self.engine.begin() as conn:
            claimed = conn.execute(_q("claim-batch"), params).all()
            if not claimed:
                return []
            contact_ids = [r.contact_id for r in claimed]
            skipped = skip_unsendable(conn, campaign.account_id, campaign.campaign_id, contact_ids)
            found = {
                c.contact_id: c
                for c in conn.execute(
                    _q("batch-contacts"),
                    {"account_id": campaign.account_id, "contact_ids": contact_ids},
                )
            }
        recipients = []
        for row in sorted(claimed, key=lambda r: r.email_record_id):
            contact = found.get(row.contact_id)
            if row.email_record_id in skipped or contact is None:
                continue
            recipients.append(
                Recipient(
                    email_record_id=row.email_record_id,
                    contact_id=row.contact_id,
                    email=contact.email,
                    first_name=contact.first_name,
                    last_name=contact.last_name,
                    custom_fields=dict(contact.custom_fields or {}),
                    reclaimed=bool(row.reclaimed),
                    attempts=int(row.attempts),
                )
            )
        return recipients

    def mark_sent(self, campaign_id: int, esp: str, sent: list[tuple[int, str]]) -> None:
        if not sent:
            return
        ids, message_ids = zip(*sent, strict=True)
        params = {"campaign_id": campaign_id, "esp": esp, "ids": list(ids)}
        with self.engine.begin() as conn:
            conn.execute(_q("mark-sent"), {**params, "message_ids": list(message_ids)})

    def mark_failed(self, campaign_id: int, esp: str, failed: list[tuple[int, str]]) -> None:
        if not failed:
            return
        ids, reasons = zip(*failed, strict=True)
        params = {"campaign_id": campaign_id, "esp": esp, "ids": list(ids)}
        with self.engine.begin() as conn:
            conn.execute(_q("mark-failed"), {**params, "reasons": [r[:2000] for r in reasons]})

    def release(self, campaign_id: int, email_record_ids: list[int]) -> None:
        if not email_record_ids:
            return
        with self.engine.begin() as conn:
            conn.execute(_q("release"), {"campaign_id": campaign_id, "ids": email_record_ids})

    def extend_lease(self, campaign_id: int, email_record_ids: list[int], seconds: int) -> None:
        if not email_record_ids:
            return
        params = {"campaign_id": campaign_id, "ids": email_record_ids, "lease_seconds": seconds}
        with self.engine.begin() as conn:
            conn.execute(_q("extend-lease"), params)

    def skip_queued(self, campaign_id: int, reason: str) -> int:
        with self.engine.begin() as conn:
            result = conn.execute(_q("skip-queued"), {"campaign_id": campaign_id, "reason": reason})
        return int(result.rowcount or 0)

    def finish(self, campaign_id: int) -> bool:
        with self.engine.begin() as conn:
            return finish_if_done(conn, campaign_id)

    def set_status_reason(self, campaign_id: int, reason: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(_q("set-status-reason"), {"campaign_id": campaign_id, "reason": reason})


def _campaign(conn: sa.Connection, row: dict[str, Any]) -> Campaign:
    """The campaign with its pinned template version and the account's sender defaults."""
    try:
        content = campaign_content(conn, row)
    except InvalidInput as exc:
        raise DispatchError(exc.message) from None
    return content
