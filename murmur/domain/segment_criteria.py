"""Criteria segment definitions: a small JSON schema, checked when a segment is written.

The schema is documented in `murmur.api.routes.segments` (and the README). A definition is a
group; a group holds conditions and nested groups:

    group     = {"all": [item, ...]} or {"any": [item, ...]}
    item      = condition or group
    condition = {"field": FIELD, "op": OP, "value": VALUE}
"""

from __future__ import annotations

from typing import Any

from murmur.db.tables import contacts

PathPart = str | int
# Every contact column a segment may test (ids and the JSON bag are not fields of their own).
FIELDS: tuple[str, ...] = tuple(
    c.name for c in contacts.c if c.name not in ("contact_id", "account_id", "custom_fields")
)
CUSTOM_PREFIX = "custom_fields."
OPS: tuple[str, ...] = ("eq", "neq", "in", "not_in", "contains", "gt", "gte", "lt", "lte", "exists")
GROUP_KEYS = ("all", "any")
MAX_DEPTH = 10
MAX_ITEMS = 500
MAX_LIST = 1000
MAX_CUSTOM_KEY = 100


class CriteriaError(ValueError):
    """A definition that breaks the schema; `path` leads to the bad element."""

    def __init__(self, path: tuple[PathPart, ...], msg: str) -> None:
        super().__init__(msg)
        self.path = path
        self.msg = msg


def validate_criteria(definition: Any) -> None:
    """Raise CriteriaError (with the path of the first bad element) unless `definition` fits."""
    _group(definition, (), 1, [0])


def _group(node: Any, path: tuple[PathPart, ...], depth: int, seen: list[int]) -> None:
    if not isinstance(node, dict) or len(node) != 1 or next(iter(node)) not in GROUP_KEYS:
        raise CriteriaError(path, 'a group must be an object with one key, "all" or "any"')
    if depth > MAX_DEPTH:
        raise CriteriaError(path, f"groups nest at most {MAX_DEPTH} deep")
    key, items = next(iter(node.items()))
    if not isinstance(items, list):
        raise CriteriaError((*path, key), "must be a list of conditions and groups")
    for i, item in enumerate(items):
        seen[0] += 1
        if seen[0] > MAX_ITEMS:
            raise CriteriaError((*path, key, i), f"a definition holds at most {MAX_ITEMS} items")
        if isinstance(item, dict) and "field" not in item and set(item) & set(GROUP_KEYS):
            _group(item, (*path, key, i), depth + 1, seen)
        else:
            _condition(item, (*path, key, i))


def _condition(node: Any, path: tuple[PathPart, ...]) -> None:
    if not isinstance(node, dict):
        raise CriteriaError(
            path, 'must be a condition {"field", "op", "value"} or a group {"all" or "any": [...]}'
        )
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
        return None if ok else f"{op} needs a list of 1 to {MAX_LIST} strings, numbers or booleans"
    if op == "contains":
        return None if isinstance(value, str) and value else "contains needs a non-empty string"
    if op in ("gt", "gte", "lt", "lte"):
        ok = isinstance(value, str | int | float) and not isinstance(value, bool)
        return None if ok else f"{op} needs a number or a string (e.g. an ISO 8601 date)"
    return None if _scalar(value) else f"{op} needs a string, number or boolean"
