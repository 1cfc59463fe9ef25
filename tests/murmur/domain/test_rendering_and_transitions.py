from __future__ import annotations

import pytest

from murmur.domain.campaigns import IllegalTransition, check_transition
from murmur.domain.rendering import RenderError, check_syntax, render, template_context


def test_templates_render_contact_fields_and_escape_html() -> None:
    context = template_context({"first_name": "<Ada>", "custom_fields": {"plan": "pro"}})
    assert render("Hi {{ first_name }} on {{ custom_fields.plan }}", context) == "Hi <Ada> on pro"
    assert render("<p>{{ first_name }}</p>", context, html=True) == "<p>&lt;Ada&gt;</p>"


@pytest.mark.parametrize(
    "source",
    ["{{ ''.__class__.__mro__ }}", "{{ 1 / 0 }}", "{{ 'x' * 1000000000 }}", "{{ 10 ** 1000000 }}"],
)
def test_the_sandbox_refuses_unsafe_or_failing_templates(source: str) -> None:
    with pytest.raises(RenderError):
        render(source, template_context({}))


def test_syntax_errors_are_reported_with_the_line() -> None:
    with pytest.raises(RenderError, match="line 2"):
        check_syntax("ok\n{% if %}")


@pytest.mark.parametrize(
    ("current", "target"),
    [
        ("draft", "scheduled"),
        ("draft", "cancelled"),
        ("scheduled", "sending"),
        ("scheduled", "draft"),
        ("sending", "sent"),
        ("sending", "cancelled"),
    ],
)
def test_legal_campaign_transitions_pass(current: str, target: str) -> None:
    check_transition(current, target)


@pytest.mark.parametrize(
    ("current", "target"),
    [
        ("draft", "sent"),
        ("draft", "sending"),
        ("sent", "cancelled"),
        ("cancelled", "draft"),
        ("sent", "scheduled"),
        ("scheduled", "sent"),
    ],
)
def test_illegal_campaign_transitions_raise(current: str, target: str) -> None:
    with pytest.raises(IllegalTransition):
        check_transition(current, target)
