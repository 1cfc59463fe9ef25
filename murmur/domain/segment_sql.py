"""A criteria definition compiled to one ClickHouse SELECT of `contact_id`.

Every table and column name in the SQL is a constant of this module chosen by a whitelisted
field, event or operator; every value (including custom-field keys, link substrings, dates and
ids) is a server-side bound parameter `{pN:Type}`. The definition is validated again before
compiling, so nothing outside the schema reaches here.

Sources: contact attributes come from the replicated raw tables (`raw_contacts`, and the
restricted `raw_contact_pii` only for address, names and consent IP), as fresh as the last
replication; events from the dbt mart `fct_email_events`; recency buckets from
`contact_engagement`; other segments from `segment_membership` (their last refresh).

With `rollup=True` (the caller has checked that the ingest-time rollup `contact_last_events` is
ready: murmur.analytics.segments.event_rollup_ready), an event condition with no campaign, no
date range, no link, no bounce type, no `unopened` and a count of 1 ("opened any campaign [in
the last N days]") reads the rollup instead: the latest event of each type per contact, kept by
ClickHouse as events are ingested (ingestion.consumer.schema). "Some row with `last_at` >= T"
is "some event at or after T" whether or not the rollup's parts are merged yet, so no GROUP BY
is needed. The rollup is as fresh as ingestion (the mart: as the last dbt run).

Semantics (the same as the live Postgres evaluation in `murmur.domain.audience`): every leaf is
true or false, never unknown, so `{"not": X}` matches exactly the contacts X does not; `neq`
and `not_in` match contacts where the field is missing; `contains` is case-insensitive;
comparisons on custom fields compare numbers with numbers and strings with strings. An event
condition counts distinct emails: "opened" is any open (machine opens included), "received" a
delivery, "unopened" a delivered email with no open at any time; `within_days` counts back from
the refresh time, `between` is [from, to).
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from murmur.domain.segment_criteria import (
    CUSTOM_PREFIX,
    TIMESTAMP_FIELDS,
    CriteriaError,
    is_group,
    parse_instant,
    validate_criteria,
)

CONTACTS_TABLE = "raw_contacts"
PII_TABLE = "raw_contact_pii"
EVENTS_TABLE = "fct_email_events"
ENGAGEMENT_TABLE = "contact_engagement"
MEMBERSHIP_TABLE = "segment_membership"  # murmur.analytics.segments.MEMBERSHIP_TABLE
ROLLUP_TABLE = "contact_last_events"  # ingestion.consumer.schema.ROLLUP_TABLE
# definition field -> column of raw_contacts / raw_contact_pii
CONTACT_COLUMNS = {
    "status": "status",
    "consent_source": "consent_source",
    "consent_at": "consent_at",
    "created_at": "created_at",
    "updated_at": "updated_at",
}
PII_COLUMNS = {
    "email": "email",
    "first_name": "first_name",
    "last_name": "last_name",
    "consent_ip": "consent_ip",
}
EVENT_TYPES = {"opened": "open", "clicked": "click", "received": "delivery", "bounced": "bounce"}
_TS = "DateTime64(6, 'UTC')"
_NUMERIC = "('Int64', 'UInt64', 'Double')"
_CMP = {"eq": "=", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
# `raw_contacts.custom_fields` is Postgres's text of a jsonb value (murmur.analytics.tables),
# which escapes only `"`, `\` and control characters: a string value made of these characters
# appears in it verbatim, between quotes. Testing that substring first spares the JSON parser
# every contact whose document cannot hold the value (most of them, for an `eq`).
_VERBATIM = re.compile(r"[A-Za-z0-9 _.,:;@#%&+=?!*()~'-]+")
# a custom-field name that may appear in a `"name": "value"` substring test (see flat_pair)
_PLAIN_KEY = re.compile(r"[A-Za-z0-9_]+")


class SegmentSqlError(ValueError):
    """The definition cannot be compiled (it breaks the schema); names the path."""


@dataclass(frozen=True)
class CompiledSegment:
    """A SELECT returning `contact_id`, its bound parameters and the tables it reads.

    `unique`: the SELECT returns each contact once (a compiled criteria SELECT reads
    `raw_contacts FINAL`, one row per contact), so its writer need not deduplicate.
    """

    sql: str
    parameters: dict[str, Any]
    tables: tuple[str, ...]
    unique: bool = False


@dataclass
class _Binder:
    params: dict[str, Any] = field(default_factory=dict)
    tables: set[str] = field(default_factory=set)

    def __call__(self, value: Any, ch_type: str) -> str:
        name = f"p{len(self.params)}"
        self.params[name] = value
        return f"{{{name}:{ch_type}}}"


def compile_segment(
    definition: Any, account_id: uuid.UUID, now: datetime, *, rollup: bool = False
) -> CompiledSegment:
    """The ClickHouse SELECT of the account's contacts matching `definition` at `now`.

    `rollup`: answer the event conditions it can from `ROLLUP_TABLE` (see the module doc).
    """
    try:
        validate_criteria(definition)
    except CriteriaError as exc:
        where = "/".join(str(p) for p in exc.path) or "definition"
        raise SegmentSqlError(f"invalid criteria at {where}: {exc.msg}") from None
    bind = _Binder(params={"account": account_id}, tables={CONTACTS_TABLE})
    compiler = _Compiler(bind, now, rollup)
    predicate = compiler.item(definition)
    sql = (
        f"select contact_id from {CONTACTS_TABLE} final"
        f" where account_id = {{account:UUID}} and {predicate}"
    )
    return CompiledSegment(sql, dict(bind.params), tuple(sorted(bind.tables)), unique=True)


@dataclass
class _Compiler:
    bind: _Binder
    now: datetime
    rollup: bool = False

    def item(self, node: dict[str, Any]) -> str:
        if is_group(node):
            key, items = next(iter(node.items()))
            parts = [self.item(i) for i in items]
            if not parts:
                return "1" if key == "all" else "0"
            return "(" + f" {'and' if key == 'all' else 'or'} ".join(parts) + ")"
        if "not" in node and "field" not in node:
            return f"not {self.item(node['not'])}"
        if "field" in node:
            leaf = self.condition(node)
        elif "event" in node:
            leaf = self.event(node)
        elif "engagement" in node:
            leaf = self.engagement(node)
        else:
            leaf = self.member(int(node["member_of"]))
        return f"ifNull({leaf}, 0)"

    def in_table(self, table: str, where: str, column: str = "contact_id") -> str:
        self.bind.tables.add(table)
        final = " final" if table == PII_TABLE else ""
        return (
            f"contact_id in (select {column} from {table}{final}"
            f" where account_id = {{account:UUID}} and {where})"
        )

    def condition(self, node: dict[str, Any]) -> str:
        name: str = node["field"]
        op: str = node["op"]
        value = node.get("value", True)
        if name.startswith(CUSTOM_PREFIX):
            return self.custom(name[len(CUSTOM_PREFIX) :], op, value)
        if name in PII_COLUMNS:
            return self.in_table(PII_TABLE, column_test(self.bind, PII_COLUMNS[name], op, value))
        return column_test(self.bind, CONTACT_COLUMNS[name], op, value, name in TIMESTAMP_FIELDS)

    def custom(self, name: str, op: str, value: Any) -> str:
        cf = "custom_fields"
        key = self.bind(name, "String")
        kind = f"JSONType({cf}, {key})"
        if op == "exists":
            present = f"(JSONHas({cf}, {key}) and {kind} != 'Null')"
            return present if value else f"not {present}"
        if op in ("eq", "neq", "in", "not_in"):
            values = value if op in ("in", "not_in") else [value]
            matched = "(" + " or ".join(self.json_equals(key, v, name) for v in values) + ")"
            return matched if op in ("eq", "in") else f"not {matched}"
        text = f"JSONExtractString({cf}, {key})"
        if op == "contains":
            found = f"positionCaseInsensitiveUTF8({text}, {self.bind(value, 'String')}) > 0"
            return f"({kind} = 'String' and {found})"
        if isinstance(value, str):
            return f"({kind} = 'String' and {text} {_CMP[op]} {self.bind(value, 'String')})"
        number = f"JSONExtractFloat({cf}, {key})"
        return f"({kind} in {_NUMERIC} and {number} {_CMP[op]} {self.bind(value, 'Float64')})"

    def json_equals(self, key: str, value: Any, name: str) -> str:
        cf = "custom_fields"
        kind = f"JSONType({cf}, {key})"
        if isinstance(value, bool):
            flag = self.bind(int(value), "UInt8")
            return f"({kind} = 'Bool' and JSONExtractBool({cf}, {key}) = {flag})"
        if isinstance(value, int | float):
            number = f"JSONExtractFloat({cf}, {key})"
            return f"({kind} in {_NUMERIC} and {number} = {self.bind(value, 'Float64')})"
        text = f"JSONExtractString({cf}, {key}) = {self.bind(value, 'String')}"
        # a non-string value extracts as '': only the empty string needs the type test
        if value == "":
            return f"({kind} = 'String' and {text})"
        if _VERBATIM.fullmatch(value):
            # a necessary condition, ~10x cheaper than parsing the JSON: see _VERBATIM
            literal = self.bind(f'"{value}"', "String")
            if _PLAIN_KEY.fullmatch(name):
                text = f"({self.flat_pair(name, value)} or {text})"
            return f"(position({cf}, {literal}) > 0 and {text})"
        return f"({text})"

    def flat_pair(self, name: str, value: str) -> str:
        """A sufficient condition for "`name` is the string `value`", with no JSON parsing.

        `"name": "value"` in the text (a name of letters, digits and `_`, a value of _VERBATIM
        characters: no quote, no backslash) is a key and its whole string value: its first
        quote cannot close a string (in JSON a closing quote is never followed by a letter, a
        digit or `_`), so it opens the key, and the next quotes close the key, open and close
        the value. With no `{` after the first character there is no nested object, so the key
        is a top-level one (jsonb keeps one per name). Otherwise the parser decides, as it does
        for a text formatted differently (the jsonb text puts `": "` between key and value).
        """
        cf = "custom_fields"
        pair = self.bind(f'"{name}": "{value}"', "String")
        brace = self.bind("{", "String")
        return f"(position({cf}, {pair}) > 0 and position({cf}, {brace}, 2) = 0)"

    def event(self, node: dict[str, Any]) -> str:
        kind: str = node["event"]
        if self.rollup and rollup_answers(node):
            last = [f"type = {self.bind(EVENT_TYPES[kind], 'String')}"]
            if "within_days" in node:
                since = self.now - timedelta(days=int(node["within_days"]))
                last.append(f"last_at >= {self.bind(since, _TS)}")
            return self.in_table(ROLLUP_TABLE, " and ".join(last))
        where = [f"event_type = {self.bind(EVENT_TYPES[kind], 'String')}"]
        if "campaign_id" in node:
            where.append(f"campaign_id = {self.bind(int(node['campaign_id']), 'Int64')}")
        start, end = self.window(node)
        if start is not None:
            where.append(f"event_date >= {self.bind(start.date(), 'Date')}")
            where.append(f"event_at >= {self.bind(start, _TS)}")
        if end is not None:
            where.append(f"event_date <= {self.bind(end.date(), 'Date')}")
            where.append(f"event_at < {self.bind(end, _TS)}")
        if node.get("link_contains") is not None:
            link = self.bind(node["link_contains"], "String")
            where.append(f"positionCaseInsensitiveUTF8(url, {link}) > 0")
        if node.get("bounce_type") is not None:
            where.append(f"bounce_type = {self.bind(node['bounce_type'], 'String')}")
        if node.get("unopened"):
            where.append(
                "email_record_id not in (select assumeNotNull(email_record_id) from"
                f" {EVENTS_TABLE} where account_id = {{account:UUID}}"
                f" and event_type = {self.bind('open', 'String')}"
                " and email_record_id is not null)"
            )
        where.append("contact_id is not null")
        count = int(node.get("min_count", 1))
        condition = " and ".join(where)
        if count > 1:
            condition += (
                " group by contact_id having uniqExact(email_record_id)"
                f" >= {self.bind(count, 'UInt64')}"
            )
        # the mart's ids are Nullable, but these are not null: a plain Int64 set builds faster
        return self.in_table(EVENTS_TABLE, condition, "assumeNotNull(contact_id)")

    def window(self, node: dict[str, Any]) -> tuple[datetime | None, datetime | None]:
        if "within_days" in node:
            return self.now - timedelta(days=int(node["within_days"])), None
        if "between" in node:
            start, end = (parse_instant(v) for v in node["between"])
            return start, end
        return None, None

    def engagement(self, node: dict[str, Any]) -> str:
        value = node["engagement"]
        buckets = sorted(set(value if isinstance(value, list) else [value]))
        leaf = self.in_table(
            ENGAGEMENT_TABLE, f"has({self.bind(buckets, 'Array(String)')}, recency_bucket)"
        )
        if "never" in buckets:  # a contact the mart has not seen yet has never engaged
            leaf = f"({leaf} or not {self.in_table(ENGAGEMENT_TABLE, '1')})"
        return leaf

    def member(self, segment_id: int) -> str:
        return self.in_table(MEMBERSHIP_TABLE, f"segment_id = {self.bind(segment_id, 'Int64')}")


def rollup_answers(node: dict[str, Any]) -> bool:
    """Whether an event condition is "any campaign, ever or in the last N days, once"."""
    return (
        "campaign_id" not in node
        and "between" not in node
        and node.get("link_contains") is None
        and node.get("bounce_type") is None
        and not node.get("unopened")
        and int(node.get("min_count", 1)) <= 1
    )


def column_test(bind: _Binder, column: str, op: str, value: Any, timestamp: bool = False) -> str:
    """`op` on a contact column (a constant name); the value is bound."""
    if op == "exists":
        return f"{column} is not null" if value else f"{column} is null"
    if op == "contains":
        return f"positionCaseInsensitiveUTF8(toString({column}), {bind(value, 'String')}) > 0"
    ch_type = _TS if timestamp else "String"

    def convert(v: Any) -> Any:
        return parse_instant(v) if timestamp else str(v)

    if op in ("in", "not_in"):
        found = f"has({bind([convert(v) for v in value], f'Array({ch_type})')}, {column})"
        return found if op == "in" else f"({column} is null or not {found})"
    bound = bind(convert(value), ch_type)
    if op == "neq":
        return f"({column} is null or {column} != {bound})"
    return f"{column} {_CMP[op]} {bound}"
