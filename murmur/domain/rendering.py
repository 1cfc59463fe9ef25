"""Template rendering for subjects and bodies: Jinja2 in a sandbox, `{{ first_name }}` etc.

Every render runs under a budget, so one hostile template fails its own render with a
`BudgetExceeded` naming the budget and never stalls the caller (the API or the sender):

- `MAX_RENDER_SECONDS`: wall time of one render, checked at every step;
- `MAX_STEPS`: loop iterations, calls, filters and arithmetic of one render;
- `MAX_RANGE`: items of one `range()`;
- `MAX_OUTPUT_CHARS`: the rendered text, and the size of any value the template builds (a
  string's characters, a collection's items and their sizes), checked before the operations that
  multiply sizes (`*`, `join`, `replace`, `center`, `indent`, format widths) and after any other;
- `MAX_OPERAND`: an integer operand of `*` or `**`.

The budget is enforced where the template runs (the sandbox's hooks, a bounded `range`, a
wrapper around every filter and every `for` loop), so it holds in any thread or worker.
"""

from __future__ import annotations

import functools
import operator
import time
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from typing import Any

from jinja2 import TemplateError, nodes, pass_eval_context
from jinja2.nodes import EvalContext
from jinja2.runtime import markup_join, str_join
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import Namespace
from jinja2.visitor import NodeTransformer

from murmur.domain.render_checks import check_call, check_filter, check_format, weight
from murmur.domain.template_context import SAMPLE_CONTACT as SAMPLE_CONTACT
from murmur.domain.template_context import template_context as template_context

MAX_RENDER_SECONDS = 2.0
MAX_STEPS = 200_000
MAX_RANGE = 10_000
MAX_OUTPUT_CHARS = 2_000_000
MAX_OPERAND = 100_000

_ITER = "_budget_iter"
_VALUE = "_budget_value"
_CONCAT = "_budget_concat"
_BINOPS: dict[str, Callable[[Any, Any], Any]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": operator.truediv,
    "//": operator.floordiv,
    "%": operator.mod,
    "**": operator.pow,
}


class RenderError(ValueError):
    """The template does not compile or render; the message says why."""


class BudgetExceeded(RenderError):
    """A render went over one of its budgets; `budget` names it (time, steps, range, size)."""

    def __init__(self, budget: str, message: str) -> None:
        super().__init__(f"render budget exceeded ({budget}): {message}")
        self.budget = budget


class _Budget:
    def __init__(self) -> None:
        self.deadline = time.monotonic() + MAX_RENDER_SECONDS
        self.steps = 0

    def tick(self) -> None:
        self.steps += 1
        if self.steps > MAX_STEPS:
            raise BudgetExceeded(
                "steps", f"more than {MAX_STEPS} loop iterations, calls, filters or operations"
            )
        if time.monotonic() > self.deadline:
            raise BudgetExceeded("time", f"rendering took longer than {MAX_RENDER_SECONDS} s")


_budget: ContextVar[_Budget | None] = ContextVar("murmur_render_budget", default=None)


def _tick() -> None:
    budget = _budget.get()
    if budget is None:
        raise RenderError("templates render only through murmur.domain.rendering.render")
    budget.tick()


def _sized(value: Any) -> Any:
    size = weight(value, MAX_OUTPUT_CHARS)
    if size > MAX_OUTPUT_CHARS:
        raise BudgetExceeded("size", f"a value larger than {MAX_OUTPUT_CHARS} characters")
    return value


def _refuse(reason: str) -> None:
    raise BudgetExceeded("size", reason)


def _bounded_range(*args: int) -> range:
    _tick()
    items = range(*args)
    if len(items) > MAX_RANGE:
        raise BudgetExceeded("range", f"range of {len(items)} items (at most {MAX_RANGE})")
    return items


def _budget_iter(value: Any) -> Iterator[Any]:
    """Wraps the iterable of every `for` loop: each iteration costs a step."""
    for item in value:
        _tick()
        yield item


class _Namespace(Namespace):
    """`namespace()` whose attributes (`{% set ns.x = ... %}`) are size-checked."""

    def __setitem__(self, name: str, value: Any) -> None:
        _tick()
        super().__setitem__(name, _sized(value))


def _budgeted_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        _tick()
        args, kwargs = check_filter(name, args, kwargs, MAX_OUTPUT_CHARS, _refuse)
        return _sized(func(*args, **kwargs))

    return wrapper


class _Wrap(NodeTransformer):
    """Routes every loop's iterable and every literal / concatenation through the budget."""

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        node.iter = nodes.Filter(node.iter, _ITER, [], [], None, None, lineno=node.lineno)
        return node

    def _value(self, node: nodes.Expr) -> nodes.Node:
        self.generic_visit(node)
        return nodes.Filter(node, _VALUE, [], [], None, None, lineno=node.lineno)

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        """`a ~ b` becomes `[a, b]|_budget_concat`: sizes are checked before joining."""
        self.generic_visit(node)
        parts = self._value(nodes.List(node.nodes, lineno=node.lineno))
        return nodes.Filter(parts, _CONCAT, [], [], None, None, lineno=node.lineno)

    def visit_Dict(self, node: nodes.Dict) -> nodes.Node:
        return self._value(node)

    def visit_List(self, node: nodes.List) -> nodes.Node:
        return self._value(node)

    def visit_Tuple(self, node: nodes.Tuple) -> nodes.Node:
        if node.ctx != "load":
            self.generic_visit(node)
            return node
        return self._value(node)


@pass_eval_context
def _concat_parts(eval_ctx: EvalContext, parts: list[Any]) -> str:
    return markup_join(parts) if eval_ctx.autoescape else str_join(parts)


def _concat(parts: Iterable[str]) -> str:
    """Joins rendered chunks (block bodies, macro output) once their size is known to fit."""
    listed = list(parts)
    if sum(len(part) for part in listed) > MAX_OUTPUT_CHARS:
        raise BudgetExceeded("output", f"a block renders more than {MAX_OUTPUT_CHARS} chars")
    return "".join(listed)


class _Sandbox(ImmutableSandboxedEnvironment):
    """The sandbox with budget hooks on calls, arithmetic, filters, loops and literals."""

    intercepted_binops = frozenset(_BINOPS)
    concat = staticmethod(_concat)

    def __init__(self, autoescape: bool) -> None:
        super().__init__(autoescape=autoescape)
        self.filters = {name: _budgeted_filter(name, f) for name, f in self.filters.items()}
        self.filters[_ITER] = _budget_iter
        self.filters[_VALUE] = _sized
        self.filters[_CONCAT] = _concat_parts
        self.globals.pop("lipsum", None)  # lipsum(n) builds n paragraphs
        self.globals.update(range=_bounded_range, namespace=_Namespace)

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        tree = super()._parse(source, name, filename)
        wrapped: nodes.Template = _Wrap().visit(tree)
        return wrapped

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        _tick()
        if operator in ("*", "**"):
            for operand in (left, right):
                if isinstance(operand, int) and abs(operand) > MAX_OPERAND:
                    raise BudgetExceeded(
                        "size", f"operand {operand} of {operator} is over {MAX_OPERAND}"
                    )
        if operator == "**" and isinstance(left, int) and isinstance(right, int) and right > 0:
            if right * max(abs(left).bit_length(), 1) > MAX_OPERAND:
                raise BudgetExceeded("size", f"{left} ** {right} is too large a number")
        if operator == "*":
            count, seq = (right, left) if isinstance(right, int) else (left, right)
            if isinstance(count, int) and not isinstance(seq, int | float):
                _sized_product(seq, count)
        elif operator == "%" and isinstance(left, str):
            check_format(left, MAX_OUTPUT_CHARS, _refuse)
        elif operator == "+" and not isinstance(left, int | float):
            if weight(left, MAX_OUTPUT_CHARS) + weight(right, MAX_OUTPUT_CHARS) > MAX_OUTPUT_CHARS:
                _refuse(f"concatenation larger than {MAX_OUTPUT_CHARS} characters")
        return _sized(_BINOPS[operator](left, right))

    def call(self, context: Any, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        _tick()
        args, kwargs = check_call(obj, args, kwargs, MAX_OUTPUT_CHARS, _refuse)
        return _sized(super().call(context, obj, *args, **kwargs))


def _sized_product(seq: Any, count: int) -> None:
    if weight(seq, MAX_OUTPUT_CHARS) * max(count, 0) > MAX_OUTPUT_CHARS:
        _refuse(f"repeating a value {count} times makes it larger than {MAX_OUTPUT_CHARS}")


@functools.cache
def _env(autoescape: bool) -> _Sandbox:
    return _Sandbox(autoescape=autoescape)


class CompiledTemplate:
    """A template compiled once (`compile_template`); each `render` runs under its own budget.

    The sender compiles a campaign's subject and bodies once and personalises them per
    recipient: the Jinja compile (the costly part) is not repeated, the sandbox and every
    budget are.
    """

    __slots__ = ("_template", "html", "source")

    def __init__(self, source: str, html: bool) -> None:
        self.source = source
        self.html = html
        try:
            self._template = _env(html).from_string(source)
        except TemplateError as exc:
            raise _render_error(exc) from None
        except RecursionError:
            raise RenderError("the template nests too deeply") from None

    def render(self, context: dict[str, Any]) -> str:
        """Render with `context` under a fresh budget; RenderError on any failure."""
        token = _budget.set(_Budget())
        try:
            return _collect(self._template.generate(context))
        except RenderError:
            raise
        except TemplateError as exc:
            raise _render_error(exc) from None
        except RecursionError:
            raise RenderError("the template recurses too deeply") from None
        except MemoryError:
            raise BudgetExceeded("size", "the template needs too much memory") from None
        except Exception as exc:  # a template may raise anything (e.g. ZeroDivisionError)
            raise RenderError(f"{type(exc).__name__}: {exc}") from None
        finally:
            _budget.reset(token)


@functools.lru_cache(maxsize=16)  # sources are up to 1 MB each
def compile_template(source: str, *, html: bool = False) -> CompiledTemplate:
    """The compiled template of `source` (LRU-cached by source and mode); RenderError if bad."""
    return CompiledTemplate(source, html)


def _render_error(exc: TemplateError) -> RenderError:
    line = getattr(exc, "lineno", None)
    where = f" (line {line})" if line else ""
    return RenderError(f"{type(exc).__name__}{where}: {exc.message or exc}")


def _collect(chunks: Iterable[str]) -> str:
    out: list[str] = []
    size = 0
    for chunk in chunks:
        size += len(chunk)
        if size > MAX_OUTPUT_CHARS:
            raise BudgetExceeded("output", f"the output is longer than {MAX_OUTPUT_CHARS} chars")
        out.append(chunk)
    return "".join(out)


def render(source: str, context: dict[str, Any], html: bool = False) -> str:
    """Render `source` with `context` under the budget; RenderError on any failure."""
    return compile_template(source, html=html).render(context)


def check_syntax(source: str) -> None:
    """RenderError if `source` does not compile."""
    try:
        _env(False).parse(source)
    except TemplateError as exc:
        raise RenderError(f"line {getattr(exc, 'lineno', '?')}: {exc.message or exc}") from None
