"""Step 5 (events role): insert a batch into ClickHouse, never storing an event id twice.

Before each insert the sink asks ClickHouse which of the batch's event ids are already stored
(an earlier delivery, or this same batch inserted before a crash and redelivered) and inserts only
the rest, with an `insert_deduplication_token` derived from those ids so that a retried insert
whose answer was lost is dropped by the server. Recipient rows go first: an event in `events`
always has its restricted row.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import DataError, ProgrammingError

from ingestion.consumer.abstract import MessageRejected, Poison, SinkResult
from ingestion.consumer.schema import (
    EVENTS_COLUMNS,
    EVENTS_TABLE,
    RECIPIENTS_COLUMNS,
    RECIPIENTS_TABLE,
    ddl,
)
from murmur.clickhouse import get_client, target
from murmur.email_address import InvalidEmail, normalize_email
from murmur.events import EmailEvent
from murmur.settings import Settings

log = logging.getLogger("ingestion.consumer")
NIL_UUID = "00000000-0000-0000-0000-000000000000"
_CHECK_CHUNK = 5000
# errors raised while serializing our own rows: retrying cannot help, the data is at fault
_DATA_ERRORS = (DataError, ProgrammingError, TypeError, ValueError, OverflowError)


def recipient_sha256(address: str) -> str:
    """sha256 hex of the normalized address (the same key as `erasures.email_sha256`)."""
    key = address.strip().lower()
    if not key.isascii():
        try:
            key = normalize_email(address)
        except InvalidEmail:
            pass
    return hashlib.sha256(key.encode()).hexdigest()


_PLAIN = re.compile(r"[A-Za-z0-9_.:@+=/-]*")


def sql_string(value: str) -> str:
    """A ClickHouse string literal (fast path for the usual hex/uuid-like ids)."""
    if _PLAIN.fullmatch(value):
        return f"'{value}'"
    escaped = value.replace("\\", "\\\\").replace("'", "\\'")
    return "'" + "".join(c if c >= " " else f"\\x{ord(c):02x}" for c in escaped) + "'"


def id_filter(ids: Sequence[str]) -> str:
    """`event_id in (...)` as cheap SQL: plain ids travel in one string literal.

    One literal of comma-joined ids costs one token to lex (thousands of separate literals are
    slow to parse, on our local server in particular); ids with other characters are listed.
    """
    plain = [i for i in ids if _PLAIN.fullmatch(i)]
    other = [i for i in ids if not _PLAIN.fullmatch(i)]
    parts = []
    if plain:
        parts.append(f"event_id in (select arrayJoin(splitByChar(',', '{','.join(plain)}')))")
    if other:
        parts.append(f"event_id in ({','.join(sql_string(i) for i in other)})")
    return "(" + " or ".join(parts or ["0"]) + ")"


def _token(kind: str, ids: Sequence[str]) -> str:
    return kind + ":" + hashlib.sha256("\x00".join(sorted(ids)).encode()).hexdigest()


class ClickHouseSink:
    name = "clickhouse"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.database = target(settings).database
        self._client: Client | None = None

    def client(self) -> Client:
        if self._client is None:
            try:
                self._client = get_client(self.settings, database=False, compress=False)
            except Exception as exc:
                raise MessageRejected(f"ClickHouse unreachable: {exc}") from exc
        return self._client

    def _transient(self, what: str, exc: Exception) -> MessageRejected:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return MessageRejected(f"ClickHouse {what} failed: {first}")

    def prepare(self) -> None:
        client = self.client()
        try:
            client.command(f"create database if not exists `{self.database}`")
            for statement in ddl(self.database):
                client.command(statement)
        except Exception as exc:
            raise self._transient("create tables", exc) from exc

    def accepts(self, event: EmailEvent) -> bool:
        return True

    def existing(self, events: Sequence[EmailEvent]) -> set[str]:
        ids = [e.event_id for e in events]
        low = min(e.timestamp for e in events).strftime("%Y-%m-%d %H:%M:%S.%f")[:23]
        high = max(e.timestamp for e in events).strftime("%Y-%m-%d %H:%M:%S.%f")[:23]
        found: set[str] = set()
        for start in range(0, len(ids), _CHECK_CHUNK):
            where = id_filter(ids[start : start + _CHECK_CHUNK])
            sql = (
                f"select event_id from `{self.database}`.`{EVENTS_TABLE}` "
                f"where timestamp between toDateTime64('{low}', 3, 'UTC') "
                f"and toDateTime64('{high}', 3, 'UTC') and {where}"
            )
            try:
                # raw: clickhouse-connect's query() scans long SQL texts with regexes
                body = self.client().raw_query(sql, fmt="JSONCompactEachRow")
            except MessageRejected:
                raise
            except Exception as exc:
                raise self._transient("duplicate check", exc) from exc
            found.update(str(json.loads(line)[0]) for line in body.splitlines() if line)
        return found

    def write(self, events: Sequence[EmailEvent]) -> SinkResult:
        unique: dict[str, EmailEvent] = {}
        for event in events:
            unique.setdefault(event.event_id, event)
        if not unique:
            return SinkResult()
        stored = self.existing(list(unique.values()))
        new = [e for eid, e in unique.items() if eid not in stored]
        result = SinkResult(duplicates=len(events) - len(new))
        if new:
            written, poison = self._insert_checked(new)
            result.written = written
            result.poison = poison
        return result

    def _insert_checked(self, events: list[EmailEvent]) -> tuple[int, list[Poison]]:
        """Insert; on a data error, halve the batch until the offending events are isolated."""
        try:
            self._insert(events)
            return len(events), []
        except _DATA_ERRORS as exc:
            if len(events) == 1:
                return 0, [Poison(events[0], f"ClickHouse refused the event: {exc}")]
        mid = len(events) // 2
        left = self._insert_checked(events[:mid])
        right = self._insert_checked(events[mid:])
        return left[0] + right[0], left[1] + right[1]

    def _insert(self, events: list[EmailEvent]) -> None:
        now = datetime.now(UTC)
        ids = [e.event_id for e in events]
        restricted = [e for e in events if e.recipient or e.raw]
        client = self.client()
        if restricted:
            self._insert_table(
                client,
                RECIPIENTS_TABLE,
                RECIPIENTS_COLUMNS,
                [_recipient_row(e, now) for e in restricted],
                _token("r", [e.event_id for e in restricted]),
            )
        self._insert_table(
            client,
            EVENTS_TABLE,
            EVENTS_COLUMNS,
            [_event_row(e, now) for e in events],
            _token("e", ids),
        )

    def _insert_table(
        self,
        client: Client,
        table: str,
        columns: tuple[tuple[str, str], ...],
        rows: list[list[Any]],
        token: str,
    ) -> None:
        try:
            client.insert(
                table,
                rows,
                database=self.database,
                column_names=[name for name, _ in columns],
                column_type_names=[kind for _, kind in columns],
                settings={"insert_deduplication_token": token},
            )
        except _DATA_ERRORS:
            raise
        except Exception as exc:
            raise self._transient(f"insert into {table}", exc) from exc

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


def _event_row(e: EmailEvent, now: datetime) -> list[Any]:
    return [
        e.event_id,
        e.schema_version,
        e.type,
        e.timestamp,
        e.provider,
        e.provider_event_id,
        e.provider_message_id,
        e.email_record_id,
        str(e.account_id) if e.account_id else NIL_UUID,
        e.campaign_id,
        e.contact_id,
        e.esp,
        e.recipient_domain,
        e.bounce_type,
        e.diagnostic,
        e.url,
        e.ip_address,
        e.user_agent,
        e.machine_open,
        now,
    ]


def _recipient_row(e: EmailEvent, now: datetime) -> list[Any]:
    return [
        e.event_id,
        str(e.account_id) if e.account_id else NIL_UUID,
        e.email_record_id,
        e.timestamp,
        e.recipient,
        recipient_sha256(e.recipient) if e.recipient else None,
        json.dumps(e.raw, separators=(",", ":"), default=str) if e.raw is not None else "{}",
        now,
    ]
