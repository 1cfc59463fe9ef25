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
import math
import re
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import DataError, ProgrammingError

from ingestion.consumer.abstract import MessageRejected, Poison, Row, SinkResult
from ingestion.consumer.schema import (
    EVENTS_COLUMNS,
    EVENTS_TABLE,
    RECIPIENTS_COLUMNS,
    RECIPIENTS_TABLE,
    ddl,
)
from ingestion.consumer.stats import Phases
from murmur.clickhouse import get_client, target
from murmur.email_address import InvalidEmail, normalize_email
from murmur.settings import Settings

log = logging.getLogger("ingestion.consumer")
_NIL = uuid.UUID(int=0)
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
    plain: list[str] = []
    other: list[str] = []
    match = _PLAIN.fullmatch
    for i in ids:
        (plain if match(i) else other).append(i)
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
        self.phases: Phases | None = None  # the processor's timers, when it keeps them

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

    def accepts(self, event: Row) -> bool:
        return True

    def existing(self, events: Sequence[Row]) -> set[str]:
        ids = [e["event_id"] for e in events]
        stamps = [e["timestamp"] for e in events]
        low = min(stamps).strftime("%Y-%m-%d %H:%M:%S.%f")[:23]
        high = max(stamps).strftime("%Y-%m-%d %H:%M:%S.%f")[:23]
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

    def write(self, events: Sequence[Row], stored: set[str] | None = None) -> SinkResult:
        """Insert what is not stored yet; `stored`: this batch's `existing` ids, if known."""
        unique: dict[str, Row] = {}
        for event in events:
            unique.setdefault(event["event_id"], event)
        if not unique:
            return SinkResult()
        if stored is None:
            stored = self.existing(list(unique.values()))
        if self.phases is not None:
            self.phases.done("check")
        new = [e for eid, e in unique.items() if eid not in stored]
        result = SinkResult(duplicates=len(events) - len(new))
        if new:
            written, poison = self._insert_checked(new)
            result.written = written
            result.poison = poison
        if self.phases is not None:
            self.phases.done("insert")
        return result

    def _insert_checked(self, events: list[Row]) -> tuple[int, list[Poison]]:
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

    def _insert(self, events: list[Row]) -> None:
        now = datetime.now(UTC)
        restricted = [e for e in events if e["recipient"] or e["raw"]]
        client = self.client()
        if restricted:
            self._insert_table(
                client,
                RECIPIENTS_TABLE,
                RECIPIENTS_COLUMNS,
                recipient_columns(restricted, now),
                _token("r", [e["event_id"] for e in restricted]),
            )
        columns = event_columns(events, now)
        self._insert_table(client, EVENTS_TABLE, EVENTS_COLUMNS, columns, _token("e", columns[0]))

    def _insert_table(
        self,
        client: Client,
        table: str,
        columns: tuple[tuple[str, str], ...],
        data: list[list[Any]],
        token: str,
    ) -> None:
        """One column-oriented insert (no row → column transposition in the client)."""
        try:
            client.insert(
                table,
                data,
                database=self.database,
                column_names=[name for name, _ in columns],
                column_type_names=[kind for _, kind in columns],
                column_oriented=True,
                # the batch holds each event id once already: no ReplacingMergeTree merge
                # pass over every inserted block (optimize_on_insert) is needed
                settings={"insert_deduplication_token": token, "optimize_on_insert": 0},
            )
        except _DATA_ERRORS:
            raise
        except Exception as exc:
            raise self._transient(f"insert into {table}", exc) from exc

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


def _ticks_ms(moment: datetime) -> int:
    """A DateTime64(3) value as clickhouse-connect computes it from a datetime."""
    return math.floor(moment.timestamp()) * 1000 + moment.microsecond // 1000


def _columns(
    spec: tuple[tuple[str, str], ...], rows: Sequence[Row], computed: dict[str, list[Any]]
) -> list[list[Any]]:
    """One list per column of `spec`: the rows' values of that name, unless computed here."""
    out = []
    for name, _ in spec:
        column = computed.get(name)
        out.append([r[name] for r in rows] if column is None else column)
    return out


def event_columns(rows: Sequence[Row], now: datetime) -> list[list[Any]]:
    """The `events` columns of a batch, in EVENTS_COLUMNS order.

    Account ids go as UUID objects (written from their int, not parsed from text), times as
    DateTime64(3) ticks (`ingested_at` one precomputed value).
    """
    computed: dict[str, list[Any]] = {
        "account_id": [r["account_id"] or _NIL for r in rows],
        "timestamp": [_ticks_ms(r["timestamp"]) for r in rows],
        "ingested_at": [_ticks_ms(now)] * len(rows),
    }
    return _columns(EVENTS_COLUMNS, rows, computed)


def recipient_columns(rows: Sequence[Row], now: datetime) -> list[list[Any]]:
    """The `event_recipients` columns of a batch, in RECIPIENTS_COLUMNS order."""
    recipients = [r["recipient"] for r in rows]
    computed: dict[str, list[Any]] = {
        "account_id": [r["account_id"] or _NIL for r in rows],
        "timestamp": [_ticks_ms(r["timestamp"]) for r in rows],
        "recipient": recipients,
        "recipient_sha256": [recipient_sha256(a) if a else None for a in recipients],
        "raw": [raw_json(r["raw"]) for r in rows],
        "ingested_at": [_ticks_ms(now)] * len(rows),
    }
    return _columns(RECIPIENTS_COLUMNS, rows, computed)


def raw_json(raw: dict[str, Any] | None) -> str:
    """The provider payload as compact JSON (orjson; json for what orjson refuses)."""
    if raw is None:
        return "{}"
    try:
        return orjson.dumps(raw).decode()
    except (TypeError, ValueError):  # an int beyond 64 bits, a nesting deeper than orjson's
        return json.dumps(raw, separators=(",", ":"), default=str)
