"""The criteria segment schema: what fits, and the path named for what does not."""

from __future__ import annotations

from typing import Any

import pytest

from murmur.domain.segment_criteria import CriteriaError, validate_criteria

DEMO = {"all": [{"field": "custom_fields.plan", "op": "eq", "value": "pro"}]}


@pytest.mark.parametrize(
    "definition",
    [
        DEMO,  # murmur/demo_domain.py's segment
        {"all": []},
        {"any": []},
        {
            "any": [
                {"field": "status", "op": "in", "value": ["subscribed", "bounced"]},
                {"field": "consent_at", "op": "gte", "value": "2024-01-01"},
                {"field": "custom_fields.score", "op": "lt", "value": 3.5},
                {"field": "first_name", "op": "contains", "value": "an"},
                {"field": "last_name", "op": "exists"},
                {"field": "consent_ip", "op": "exists", "value": False},
                {"all": [{"field": "custom_fields.vip", "op": "neq", "value": True}]},
                {"field": "email", "op": "not_in", "value": ["a@example.com"]},
            ]
        },
    ],
)
def test_valid_definitions_pass(definition: dict[str, Any]) -> None:
    validate_criteria(definition)


@pytest.mark.parametrize(
    ("definition", "path", "words"),
    [
        ({"a": 1}, (), '"all" or "any"'),
        ({}, (), '"all" or "any"'),
        ({"all": [], "any": []}, (), '"all" or "any"'),
        ({"all": {"field": "email"}}, ("all",), "list"),
        ({"all": [1]}, ("all", 0), "condition"),
        (
            {"all": [{"field": "nope", "op": "eq", "value": 1}]},
            ("all", 0, "field"),
            "custom_fields",
        ),
        ({"all": [{"field": "custom_fields.", "op": "eq", "value": 1}]}, ("all", 0, "field"), ""),
        ({"all": [{"field": "email", "op": "like", "value": "x"}]}, ("all", 0, "op"), "eq, neq"),
        ({"all": [{"field": "email", "op": "eq"}]}, ("all", 0, "value"), "needs a value"),
        ({"all": [{"field": "email", "op": "eq", "value": None}]}, ("all", 0, "value"), "string"),
        ({"all": [{"field": "email", "op": "in", "value": []}]}, ("all", 0, "value"), "list"),
        ({"all": [{"field": "email", "op": "in", "value": [{}]}]}, ("all", 0, "value"), "list"),
        ({"all": [{"field": "email", "op": "gt", "value": True}]}, ("all", 0, "value"), "number"),
        ({"all": [{"field": "email", "op": "contains", "value": ""}]}, ("all", 0, "value"), ""),
        ({"all": [{"field": "email", "op": "exists", "value": 1}]}, ("all", 0, "value"), "true"),
        (
            {"all": [{"field": "email", "op": "eq", "value": "x", "extra": 1}]},
            ("all", 0, "extra"),
            "unknown key",
        ),
        (
            {"any": [DEMO, {"all": [{"any": [{"field": "x", "op": "eq", "value": 1}]}]}]},
            ("any", 1, "all", 0, "any", 0, "field"),
            "",
        ),
        ({"all": [{"all": [], "field": "email"}]}, ("all", 0, "all"), "unknown key"),
    ],
)
def test_invalid_definitions_name_the_bad_element(
    definition: dict[str, Any], path: tuple[Any, ...], words: str
) -> None:
    with pytest.raises(CriteriaError) as caught:
        validate_criteria(definition)
    assert caught.value.path == path
    assert words in caught.value.msg


def test_nesting_and_size_are_bounded() -> None:
    deep: dict[str, Any] = {"all": []}
    for _ in range(10):
        deep = {"all": [deep]}
    with pytest.raises(CriteriaError, match="10 deep"):
        validate_criteria(deep)
    wide = {"any": [{"field": "email", "op": "exists"}] * 501}
    with pytest.raises(CriteriaError, match="500") as caught:
        validate_criteria(wide)
    assert caught.value.path == ("any", 500)
