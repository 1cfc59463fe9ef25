"""Criteria segment definitions: a small JSON schema, checked when a segment is written.

The schema is documented in `murmur.api.routes.segments` (and the README). A definition is a
group; a group holds items, an item is a condition, a negation or a nested group:

    group      = {"all": [item, ...]} or {"any": [item, ...]}
    item       = group | {"not": item} | condition | event | engagement | member
    condition  = {"field": FIELD, "op": OP, "value": VALUE}
    event      = {"event": "opened" | "clicked" | "received" | "bounced",
                  "campaign_id"?: ID, "within_days"?: N | "between"?: [FROM, TO],
                  "min_count"?: N, "link_contains"?: TEXT (clicked), "unopened"?: true
                  (received), "bounce_type"?: "hard" | "soft" | "undetermined" (bounced)}
    engagement = {"engagement": BUCKET or [BUCKET, ...]}
    member     = {"member_of": SEGMENT_ID}

Everything here is structural: whether a `member_of` segment exists, and cycles between
segments, are checked against the database by `murmur.domain.segment_graph`.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from murmur.db.tables import contacts

PathPart = str | int
# Every contact column a segment may test (ids and the JSON bag are not fields of their own).
FIELDS: tuple[str, ...] = tuple(
    c.name for c in contacts.c if c.name not in ("contact_id", "account_id", "custom_fields")
)
TIMESTAMP_FIELDS = frozenset({"consent_at", "created_at", "updated_at"})
CUSTOM_PREFIX = "custom_fields."
OPS: tuple[str, ...] = ("eq", "neq", "in", "not_in", "contains", "gt", "gte", "lt", "lte", "exists")
GROUP_KEYS = ("all", "any")
EVENTS: tuple[str, ...] = ("opened", "clicked", "received", "bounced")
EVENT_KEYS = (
    "event",
    "campaign_id",
    "within_days",
    "between",
    "min_count",
    "link_contains",
    "unopened",
    "bounce_type",
)
BOUNCE_TYPES = ("hard", "soft", "undetermined")
BUCKETS: tuple[str, ...] = ("engaged_7d", "engaged_30d", "engaged_90d", "dormant", "never")
ITEM_FORMS = (
    'must be a condition {"field", "op", "value"}, a group {"all" or "any": [...]}, '
    '{"not": item}, {"event": ...}, {"engagement": ...} or {"member_of": segment_id}'
)
MAX_DEPTH = 10
MAX_ITEMS = 500
MAX_LIST = 1000
MAX_CUSTOM_KEY = 100
MAX_TEXT = 500
MAX_DAYS = 36_500
MAX_COUNT = 1_000_000
MAX_ID = 2**63 - 1
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(2299, 12, 31, tzinfo=UTC)


class CriteriaError(ValueError):
    """A definition that breaks the schema; `path` leads to the bad element."""

    def __init__(self, path: tuple[PathPart, ...], msg: str) -> None:
        super().__init__(msg)
        self.path = path
        self.msg = msg


def validate_criteria(definition: Any) -> None:
    """Raise CriteriaError (with the path of the first bad element) unless `definition` fits."""
    _group(definition, (), 1, [0])


def is_group(node: Any) -> bool:
    return isinstance(node, dict) and "field" not in node and bool(set(node) & set(GROUP_KEYS))


def _group(node: Any, path: tuple[PathPart, ...], depth: int, seen: list[int]) -> None:
    if not isinstance(node, dict) or len(node) != 1 or next(iter(node)) not in GROUP_KEYS:
        raise CriteriaError(path, 'a group must be an object with one key, "all" or "any"')
    if depth > MAX_DEPTH:
        raise CriteriaError(path, f"groups nest at most {MAX_DEPTH} deep")
    key, items = next(iter(node.items()))
    if not isinstance(items, list):
        raise CriteriaError((*path, key), "must be a list of conditions and groups")
    for i, item in enumerate(items):
        _item(item, (*path, key, i), depth, seen)


def _item(node: Any, path: tuple[PathPart, ...], depth: int, seen: list[int]) -> None:
    seen[0] += 1
    if seen[0] > MAX_ITEMS:
        raise CriteriaError(path, f"a definition holds at most {MAX_ITEMS} items")
    if is_group(node):
        _group(node, path, depth + 1, seen)
    elif isinstance(node, dict) and "not" in node and "field" not in node:
        if len(node) != 1:
            extra = next(k for k in node if k != "not")
            raise CriteriaError((*path, extra), 'unknown key: a negation has only "not"')
        if depth + 1 > MAX_DEPTH:
            raise CriteriaError(path, f"groups nest at most {MAX_DEPTH} deep")
        _item(node["not"], (*path, "not"), depth + 1, seen)
    elif isinstance(node, dict) and "event" in node and "field" not in node:
        _event(node, path)
    elif isinstance(node, dict) and "engagement" in node and "field" not in node:
        _engagement(node, path)
    elif isinstance(node, dict) and "member_of" in node and "field" not in node:
        _only(node, path, ("member_of",), "a membership condition has only")
        if not _positive_int(node["member_of"]):
            raise CriteriaError((*path, "member_of"), "must be a segment id (a positive integer)")
    else:
        _condition(node, path)


def _only(
    node: dict[str, Any], path: tuple[PathPart, ...], keys: tuple[str, ...], what: str
) -> None:
    for key in node:
        if key not in keys:
            names = ", ".join(f'"{k}"' for k in keys)
            raise CriteriaError((*path, key), f"unknown key: {what} {names}")


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_ID


def parse_instant(value: Any) -> datetime | None:
    """An ISO 8601 date or time as an aware datetime (UTC when no offset is given), else None.

    Only instants ClickHouse can hold (DateTime64: years 1900 to 2299, in UTC) are accepted.
    """
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        parsed = datetime.fromisoformat(value)
        parsed = parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed
        in_range = EARLIEST <= parsed.astimezone(UTC) < LATEST
    except (ValueError, OverflowError):
        return None
    return parsed if in_range else None


def _event(node: dict[str, Any], path: tuple[PathPart, ...]) -> None:
    _only(node, path, EVENT_KEYS, "an event condition has")
    kind = node["event"]
    if kind not in EVENTS:
        raise CriteriaError((*path, "event"), f"must be one of {', '.join(EVENTS)}")
    for key, problem in _event_problems(node, kind):
        raise CriteriaError((*path, *key), problem)


def _event_problems(node: dict[str, Any], kind: str) -> Iterator[tuple[tuple[PathPart, ...], str]]:
    if "campaign_id" in node and not _positive_int(node["campaign_id"]):
        yield ("campaign_id",), "must be a campaign id (a positive integer)"
    if "within_days" in node and "between" in node:
        yield ("between",), "give either within_days or between, not both"
    days = node.get("within_days", 1)
    if not _positive_int(days) or days > MAX_DAYS:
        yield ("within_days",), f"must be a whole number of days from 1 to {MAX_DAYS}"
    if "between" in node:
        yield from _between_problems(node["between"])
    count = node.get("min_count", 1)
    if not _positive_int(count) or count > MAX_COUNT:
        yield ("min_count",), f"must be a whole number from 1 to {MAX_COUNT}"
    link = node.get("link_contains")
    if link is not None:
        if kind != "clicked":
            yield ("link_contains",), 'only a "clicked" condition tests the link'
        elif not isinstance(link, str) or not 0 < len(link) <= MAX_TEXT:
            yield ("link_contains",), f"must be a non-empty string of at most {MAX_TEXT} chars"
    if "unopened" in node:
        if kind != "received":
            yield ("unopened",), 'only a "received" condition counts unopened emails'
        elif not isinstance(node["unopened"], bool):
            yield ("unopened",), "must be true or false"
    if "bounce_type" in node:
        if kind != "bounced":
            yield ("bounce_type",), 'only a "bounced" condition has a bounce type'
        elif node["bounce_type"] not in BOUNCE_TYPES:
            yield ("bounce_type",), f"must be one of {', '.join(BOUNCE_TYPES)}"


def _between_problems(value: Any) -> Iterator[tuple[tuple[PathPart, ...], str]]:
    if not isinstance(value, list) or len(value) != 2:
        yield ("between",), "must be [from, to]: two ISO 8601 dates or times"
        return
    instants = [parse_instant(v) for v in value]
    for i, instant in enumerate(instants):
        if instant is None:
            yield ("between", i), "must be an ISO 8601 date or time (years 1900 to 2299)"
            return
    start, end = instants
    if start is not None and end is not None and not start < end:
        yield ("between",), "from must be before to (to is exclusive)"


def _engagement(node: dict[str, Any], path: tuple[PathPart, ...]) -> None:
    _only(node, path, ("engagement",), "an engagement condition has only")
    value = node["engagement"]
    values = value if isinstance(value, list) else [value]
    if not values or not all(v in BUCKETS for v in values):
        raise CriteriaError(
            (*path, "engagement"), f"must be one of {', '.join(BUCKETS)}, or a list of them"
        )


def _condition(node: Any, path: tuple[PathPart, ...]) -> None:
    if not isinstance(node, dict):
        raise CriteriaError(path, ITEM_FORMS)
    for key in node:
        if key not in ("field", "op", "value"):
            raise CriteriaError((*path, key), 'unknown key: a condition has "field", "op", "value"')
    if not _valid_field(node.get("field")):
        raise CriteriaError(
            (*path, "field"),
            f"must be a contact field ({', '.join(FIELDS)}) or custom_fields.<key>",
        )
    op = node.get("op")
    if op not in OPS:
        raise CriteriaError((*path, "op"), f"must be one of {', '.join(OPS)}")
    problem = _value_problem(op, node)
    if problem:
        raise CriteriaError((*path, "value"), problem)


def _valid_field(field: Any) -> bool:
    if not isinstance(field, str):
        return False
    if field.startswith(CUSTOM_PREFIX):
        return 0 < len(field) - len(CUSTOM_PREFIX) <= MAX_CUSTOM_KEY
    return field in FIELDS


def _scalar(value: Any) -> bool:
    return isinstance(value, str | int | float)  # bool is an int


def _value_problem(op: str, node: dict[str, Any]) -> str | None:
    """Why the condition's value does not suit `op`, or None."""
    if op == "exists":
        ok = isinstance(node.get("value", True), bool)
        return None if ok else "exists takes true or false (default true)"
    if "value" not in node:
        return f"{op} needs a value"
    value = node["value"]
    if op in ("in", "not_in"):
        ok = isinstance(value, list) and 0 < len(value) <= MAX_LIST and all(map(_scalar, value))
        if not ok:
            return f"{op} needs a list of 1 to {MAX_LIST} strings, numbers or booleans"
        return _timestamp_problem(node["field"], value)
    if op == "contains":
        return None if isinstance(value, str) and value else "contains needs a non-empty string"
    if op in ("gt", "gte", "lt", "lte"):
        ok = isinstance(value, str | int | float) and not isinstance(value, bool)
        if not ok:
            return f"{op} needs a number or a string (e.g. an ISO 8601 date)"
        return _timestamp_problem(node["field"], [value])
    if not _scalar(value):
        return f"{op} needs a string, number or boolean"
    return _timestamp_problem(node["field"], [value])


def _timestamp_problem(field: str, values: list[Any]) -> str | None:
    if field not in TIMESTAMP_FIELDS:
        return None
    for value in values:
        if parse_instant(value) is None:
            return (
                f"{field} compares with an ISO 8601 date or time (years 1900 to 2299),"
                f" got {value!r}"
            )
    return None


def walk(definition: Any) -> Iterator[dict[str, Any]]:
    """Every leaf item (condition, event, engagement, member) of a valid definition."""
    if is_group(definition):
        for item in next(iter(definition.values())):
            yield from walk(item)
    elif isinstance(definition, dict) and "not" in definition and "field" not in definition:
        yield from walk(definition["not"])
    elif isinstance(definition, dict):
        yield definition


def member_segments(definition: Any) -> set[int]:
    """The segment ids a valid definition's `member_of` items name."""
    return {int(item["member_of"]) for item in walk(definition) if "member_of" in item}


def needs_clickhouse(definition: Any) -> bool:
    """True when a valid definition tests events, engagement or membership (ClickHouse data)."""
    return any("field" not in item for item in walk(definition))
