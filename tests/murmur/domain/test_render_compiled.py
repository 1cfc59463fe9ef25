"""Compile once, render per recipient: the same sandbox and budgets on every render."""

from __future__ import annotations

import pytest

from murmur.domain.rendering import (
    BudgetExceeded,
    CompiledTemplate,
    RenderError,
    compile_template,
    render,
    template_context,
)


def test_a_compiled_template_renders_each_context() -> None:
    compiled = compile_template("Hi {{ first_name }} <{{ email }}>", html=True)
    for name, email in (("Ada", "a@x.example"), ("<b>", "b@x.example")):
        context = template_context({"first_name": name, "email": email})
        assert compiled.render(context) == render(compiled.source, context, html=True)
    assert compiled.render(template_context({"first_name": "<b>"})) == "Hi &lt;b&gt; <None>"


def test_compile_template_is_cached_by_source_and_mode() -> None:
    source = "Dear {{ last_name }}"
    assert compile_template(source, html=False) is compile_template(source, html=False)
    assert compile_template(source, html=True) is not compile_template(source, html=False)
    assert compile_template("{{ '<' }}", html=True).render({}) == "&lt;"
    assert compile_template("{{ '<' }}", html=False).render({}) == "<"


def test_every_render_of_a_compiled_template_has_its_own_budget() -> None:
    # about 120,000 steps per render: two would be over MAX_STEPS if the budget leaked
    loops = "{% for i in range(10000) %}{% for j in range(10) %}{% endfor %}{% endfor %}"
    fine = CompiledTemplate(loops + "{{ n }}", html=False)
    for n in range(3):
        assert fine.render({"n": n}) == str(n)
    hostile = CompiledTemplate("{{ 'x' * 10**9 }}", html=False)
    for _ in range(2):
        with pytest.raises(BudgetExceeded) as caught:
            hostile.render({})
        assert caught.value.budget == "size"
    assert fine.render({"n": 7}) == "7"


def test_a_template_that_does_not_compile_names_the_line() -> None:
    with pytest.raises(RenderError, match="line 2"):
        compile_template("ok\n{% if %}", html=False)


def test_runtime_errors_of_a_compiled_template_are_render_errors() -> None:
    compiled = compile_template("{{ 1 // n }}", html=False)
    assert compiled.render({"n": 1}) == "1"
    with pytest.raises(RenderError, match="ZeroDivisionError"):
        compiled.render({"n": 0})
