"""The render budget: hostile templates fail their own render, naming the budget."""

from __future__ import annotations

import threading

import pytest

from murmur.domain.rendering import (
    MAX_OUTPUT_CHARS,
    MAX_RANGE,
    BudgetExceeded,
    RenderError,
    render,
    template_context,
)

BIG = "{% set s = 'x' * 100000 %}"

# Regression: each of these ran for minutes or built hundreds of MB before the budget.
HOSTILE = {
    "nested range(100000) three deep": (
        "{% for a in range(100000) %}{% for b in range(100000) %}{% for c in range(100000) %}"
        "x{% endfor %}{% endfor %}{% endfor %}",
        {"range"},
    ),
    "loops without output": (
        "{% for a in range(10000) %}{% for b in range(10000) %}{% for c in range(10000) %}"
        "{% endfor %}{% endfor %}{% endfor %}",
        {"steps", "time"},
    ),
    "loops over a long string": (
        BIG + "{% for a in s %}{% for b in s %}{% endfor %}{% endfor %}",
        {"steps", "time"},
    ),
    "string repetition": ("{{ 'x' * 10**9 }}", {"size"}),
    "center filter": ("{{ 'a'|center(10**8) }}", {"size"}),
    "center method": ("{{ 'a'.center(10**8) }}", {"size"}),
    "format width": ("{{ '%0999999999d'|format(1) }}", {"size"}),
    "str.format width": ("{{ '{:>999999999}'.format(1) }}", {"size"}),
    "doubling through a namespace": (
        BIG + "{% set ns = namespace(x=s) %}{% for i in range(40) %}"
        "{% set ns.x = ns.x ~ ns.x %}{% endfor %}",
        {"size"},
    ),
    "macro output": (
        BIG + "{% macro m() %}{% for i in range(10000) %}{{ s }}{% endfor %}{% endmacro %}"
        "{{ m()|length }}",
        {"output"},
    ),
    "block set": (
        BIG + "{% set b %}{% for i in range(10000) %}{{ s }}{% endfor %}{% endset %}{{ b|length }}",
        {"output"},
    ),
    "long concatenation": (BIG + "{{ (" + " ~ ".join(["s"] * 30) + ")|length }}", {"size"}),
    "list repetition then join": (BIG + "{{ ([s] * 10000)|join|length }}", {"size"}),
    "literal list of big strings": (BIG + "{{ [" + ",".join(["s"] * 30) + "]|string }}", {"size"}),
    "indent of many lines": ("{{ ('\n' * 10000)|indent(100000)|length }}", {"size"}),
    "replace blow-up": ("{{ ('a' * 100000).replace('a', 'b' * 100000) }}", {"size"}),
    "huge power": ("{{ 99999 ** 99999 }}", {"size"}),
    "slice count": ("{{ 'a'|slice(10**8) }}", {"size"}),
    "output only": ("{% for i in range(10000) %}" + "y" * 1000 + "{% endfor %}", {"output"}),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_a_hostile_template_fails_its_render_naming_the_budget(case: str) -> None:
    source, budgets = HOSTILE[case]
    outcome: list[BaseException] = []

    def run() -> None:
        try:
            render(source, template_context({}))
        except BaseException as exc:  # collected for the assertions below
            outcome.append(exc)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(60)  # liveness only: a stalled render leaves the thread alive
    assert not worker.is_alive(), f"{case}: the render did not stop"
    assert outcome and isinstance(outcome[0], BudgetExceeded), outcome
    assert outcome[0].budget in budgets
    assert "render budget exceeded" in str(outcome[0])


@pytest.mark.parametrize(
    "source",
    ["{{ lipsum(n=100000) }}", "{% for x in [1] recursive %}{{ loop([1, 1]) }}{% endfor %}"],
)
def test_other_unbounded_constructs_are_refused(source: str) -> None:
    with pytest.raises(RenderError):
        render(source, template_context({}))


def test_ordinary_templates_render_within_the_budget() -> None:
    context = template_context({"first_name": "Ada", "custom_fields": {"items": ["a", "b"]}})
    source = (
        "Hi {{ first_name ~ '!' }} {% for i in range(3) %}{{ i }}{% endfor %} "
        "{{ '%05d'|format(42) }} {{ custom_fields['items']|join(',') }} {{ 'ab'|center(6) }}"
        "{% set ns = namespace(n=0) %}{% for x in range(10) %}{% set ns.n = ns.n + x %}{% endfor %}"
        " {{ ns.n }} {{ '{:,}'.format(1234567) }} {{ 2 ** 10 }}"
    )
    assert render(source, context) == "Hi Ada! 012 00042 a,b   ab   45 1,234,567 1024"
    assert len(render("{{ 'x' * 1000 }}" * 100, context)) == 100_000
    loop = "{% for i in range(" + str(MAX_RANGE) + ") %}.{% endfor %}"
    assert render(loop, context) == "." * MAX_RANGE


def test_html_concatenation_still_escapes() -> None:
    context = template_context({"first_name": "<Ada>"})
    assert render("<p>{{ first_name ~ '&' }}</p>", context, html=True) == "<p>&lt;Ada&gt;&amp;</p>"


def test_output_at_the_limit_is_allowed() -> None:
    source = "{{ 'x' * 100000 }}" * (MAX_OUTPUT_CHARS // 100_000)
    assert len(render(source, template_context({}))) == MAX_OUTPUT_CHARS
