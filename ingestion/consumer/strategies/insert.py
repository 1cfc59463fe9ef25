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
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import DatabaseError, DataError, ProgrammingError

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
_EMPTY: dict[str, Any] = {}
Columns = dict[str, list[Any]]  # column name → values, in the table's column order
_INSERT_SETTINGS = {
    # the batch holds each event id once already: no ReplacingMergeTree merge pass over
    # every inserted block (optimize_on_insert) is needed
    "optimize_on_insert": 0,
    # how the JSONColumns documents are read, whatever the server's defaults: orjson's
    # `2026-01-02T03:04:05.678+00:00`, and `raw` payload objects kept as their JSON text
    "date_time_input_format": "best_effort",
    "input_format_json_read_objects_as_strings": 1,
}
_CHECK_CHUNK = 5000
# errors raised while serializing our own rows: retrying cannot help, the data is at fault
_DATA_ERRORS = (DataError, ProgrammingError, TypeError, ValueError, OverflowError)
# the server's codes for a value it cannot read into its column (it parses the documents):
# CANNOT_PARSE_TEXT, CANNOT_PARSE_QUOTED_STRING, CANNOT_PARSE_INPUT_ASSERTION_FAILED,
# CANNOT_PARSE_DATE, CANNOT_PARSE_DATETIME, TYPE_MISMATCH, ARGUMENT_OUT_OF_BOUND,
# CANNOT_CONVERT_TYPE, CANNOT_PARSE_NUMBER, INCORRECT_DATA, TOO_LARGE_STRING_SIZE,
# VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE, CANNOT_PARSE_UUID, CANNOT_PARSE_BOOL
_REFUSED_CODES = frozenset({6, 26, 27, 38, 41, 53, 69, 70, 72, 117, 131, 321, 376, 467})


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
                # the inserts' settings (they do not change a select's answer): the server
                # then changes only the insert token between a check and an insert, in one SET
                body = self.client().raw_query(
                    sql, fmt="JSONCompactEachRow", settings=_INSERT_SETTINGS
                )
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
        # both documents are written before either insert: an event orjson refuses (TypeError)
        # is isolated by the caller before anything of its batch is stored
        extra = recipient_columns(restricted, now) if restricted else None
        extra_body = recipients_body(extra) if extra else b""
        columns = event_columns(events, now)
        body = orjson.dumps(columns)  # texts, ints, bools, UUIDs and aware datetimes only
        client = self.client()
        if extra:
            token = _token("r", extra["event_id"])
            self._insert_table(client, RECIPIENTS_TABLE, extra, extra_body, token)
        self._insert_table(client, EVENTS_TABLE, columns, body, _token("e", columns["event_id"]))

    def _insert_table(
        self, client: Client, table: str, columns: Columns, body: bytes, token: str
    ) -> None:
        """One insert of a JSONColumns document: ClickHouse parses it, not Python."""
        try:
            client.raw_insert(
                f"`{self.database}`.`{table}`",
                list(columns),
                insert_block=body,
                fmt="JSONColumns",
                settings={"insert_deduplication_token": token, **_INSERT_SETTINGS},
            )
        except _DATA_ERRORS:
            raise
        except DatabaseError as exc:
            if exc.code in _REFUSED_CODES:  # the data, not the server: isolate and dead-letter
                raise DataError(str(exc).strip().splitlines()[0], code=exc.code) from exc
            raise self._transient(f"insert into {table}", exc) from exc
        except Exception as exc:
            raise self._transient(f"insert into {table}", exc) from exc

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


def _columns(spec: tuple[tuple[str, str], ...], rows: Sequence[Row], computed: Columns) -> Columns:
    """One list per column of `spec`, in its order: the rows' values, unless computed here."""
    out: Columns = {}
    for name, _ in spec:
        column = computed.get(name)
        out[name] = [r[name] for r in rows] if column is None else column
    return out


def event_columns(rows: Sequence[Row], now: datetime) -> Columns:
    """The `events` columns of a batch, in EVENTS_COLUMNS order, as orjson writes them.

    Times are aware UTC datetimes (ClickHouse reads `…T…+00:00` and keeps the milliseconds),
    account ids UUIDs (the nil UUID when unmatched), `ingested_at` one value for the batch.
    """
    computed: Columns = {
        "account_id": [r["account_id"] or _NIL for r in rows],
        "ingested_at": [now] * len(rows),
    }
    return _columns(EVENTS_COLUMNS, rows, computed)


def recipient_columns(rows: Sequence[Row], now: datetime) -> Columns:
    """The `event_recipients` columns of a batch, in RECIPIENTS_COLUMNS order.

    `raw` holds each payload as an object: ClickHouse stores an object read into a String
    column as its JSON text (`input_format_json_read_objects_as_strings`), here orjson's
    compact text, the same that `raw_json` gives.
    """
    recipients = [r["recipient"] for r in rows]
    computed: Columns = {
        "account_id": [r["account_id"] or _NIL for r in rows],
        "recipient": recipients,
        "recipient_sha256": [recipient_sha256(a) if a else None for a in recipients],
        "raw": [r["raw"] or _EMPTY for r in rows],
        "ingested_at": [now] * len(rows),
    }
    return _columns(RECIPIENTS_COLUMNS, rows, computed)


def recipients_body(columns: Columns) -> bytes:
    """The JSONColumns document of `recipient_columns`.

    A payload orjson cannot write (an integer beyond 64 bits, deeper nesting than orjson's
    limit) goes as the JSON text `raw_json` writes for it; anything else orjson refuses in
    the other columns is raised (TypeError: the sink isolates the event and dead-letters it).
    """
    try:
        return orjson.dumps(columns)
    except orjson.JSONEncodeError:
        pass
    texts = {**columns, "raw": [raw_json(r) for r in columns["raw"]]}
    return orjson.dumps(texts)


def raw_json(raw: dict[str, Any] | None) -> str:
    """The provider payload as compact JSON (orjson; json for what orjson refuses)."""
    if raw is None:
        return "{}"
    try:
        return orjson.dumps(raw).decode()
    except (TypeError, ValueError):  # an int beyond 64 bits, a nesting deeper than orjson's
        return json.dumps(raw, separators=(",", ":"), default=str)
