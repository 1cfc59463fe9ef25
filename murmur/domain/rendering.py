"""Template rendering for subjects and bodies: Jinja2 in a sandbox, `{{ first_name }}` etc."""

from __future__ import annotations

from functools import cache
from typing import Any

from jinja2 import TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

MAX_OPERAND = 100_000


class RenderError(ValueError):
    """The template does not compile or render; the message says why."""


class _Sandbox(ImmutableSandboxedEnvironment):
    """Also refuses `*`/`**` that would build huge values (`{{ 'x' * 10**9 }}`)."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        for operand in (left, right):
            if isinstance(operand, int) and abs(operand) > MAX_OPERAND:
                raise RenderError(f"operand {operand} of {operator} is too large")
        if operator == "**":
            return left**right
        return left * right


@cache
def _env(autoescape: bool) -> _Sandbox:
    return _Sandbox(autoescape=autoescape)


def template_context(contact: dict[str, Any]) -> dict[str, Any]:
    """The variables a template sees for one contact."""
    return {
        "email": contact.get("email"),
        "first_name": contact.get("first_name") or "",
        "last_name": contact.get("last_name") or "",
        "custom_fields": contact.get("custom_fields") or {},
    }


SAMPLE_CONTACT = {
    "email": "sample@example.com",
    "first_name": "Sample",
    "last_name": "Contact",
    "custom_fields": {},
}


def render(source: str, context: dict[str, Any], html: bool = False) -> str:
    """Render `source` with `context`; RenderError on syntax or runtime errors."""
    try:
        return _env(html).from_string(source).render(context)
    except RenderError:
        raise
    except TemplateError as exc:
        line = getattr(exc, "lineno", None)
        where = f" (line {line})" if line else ""
        raise RenderError(f"{type(exc).__name__}{where}: {exc.message or exc}") from None
    except Exception as exc:  # a template may raise anything (e.g. ZeroDivisionError)
        raise RenderError(f"{type(exc).__name__}: {exc}") from None


def check_syntax(source: str) -> None:
    """RenderError if `source` does not compile."""
    try:
        _env(False).parse(source)
    except TemplateError as exc:
        raise RenderError(f"line {getattr(exc, 'lineno', '?')}: {exc.message or exc}") from None
