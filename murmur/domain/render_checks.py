"""Size checks the render budget runs *before* operations that multiply sizes.

`weight` estimates how big a value is (characters of strings plus items of collections, stopping
as soon as it passes the limit); the `check_*` functions refuse, through `refuse(reason)`, a
call or filter whose result would be larger than `limit`, and return the arguments to call with
(an iterator a check had to consume comes back as a list).
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable
from typing import Any

from jinja2 import Environment
from jinja2.nodes import EvalContext
from jinja2.runtime import Context

Refuse = Callable[[str], None]
Args = tuple[tuple[Any, ...], dict[str, Any]]
_PERCENT = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?")
_WIDTH_METHODS = frozenset({"center", "ljust", "rjust", "zfill"})


def weight(value: Any, limit: int) -> int:
    """Characters of strings plus items of collections in `value`; stops once over `limit`."""
    total = 0
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str | bytes):
            total += len(item)
        elif isinstance(item, dict):
            total += len(item)
            if total <= limit:
                stack.extend(item.keys())
                stack.extend(item.values())
        elif isinstance(item, list | tuple | set | frozenset):
            total += len(item)
            if total <= limit:
                stack.extend(item)
        else:
            total += 1
        if total > limit:
            return total
    return total


def check_format(fmt: Any, limit: int, refuse: Refuse) -> None:
    """Refuse `%` / `{}` formats whose widths or precisions are over `limit` or not literal."""
    if not isinstance(fmt, str):
        return
    widths = [w for match in _PERCENT.finditer(fmt) for w in match.groups() if w]
    try:
        specs = [spec for _, _, spec, _ in string.Formatter().parse(fmt) if spec]
    except ValueError:
        specs = []
    for spec in specs:
        if "{" in spec:
            refuse("format widths must be literal numbers")
        widths.extend(re.findall(r"\d+", spec))
    for width in widths:
        if width == "*":
            refuse("format widths must be literal numbers")
        elif len(width) > 9 or int(width) > limit:
            refuse(f"format width {width} is over {limit}")


def _int(value: Any, default: int = 0) -> int:
    return value if isinstance(value, int) else default


def _check_width(width: Any, limit: int, refuse: Refuse) -> None:
    if isinstance(width, int) and width > limit:
        refuse(f"width {width} is over {limit}")


def _check_replace(text: Any, old: Any, new: Any, count: Any, limit: int, refuse: Refuse) -> None:
    if not isinstance(text, str | bytes) or not isinstance(new, str | bytes):
        return
    old_len = len(old) if isinstance(old, str | bytes) else 1
    hits = text.count(old) if isinstance(old, type(text)) else 0
    if isinstance(count, int) and count >= 0:
        hits = min(hits, count)
    if len(text) + hits * (len(new) - old_len) > limit:
        refuse(f"replace() would build more than {limit} characters")


def _check_join(sep: Any, items: Any, limit: int, refuse: Refuse) -> list[Any]:
    listed = list(items)
    size = weight(listed, limit) + len(sep if isinstance(sep, str | bytes) else "") * len(listed)
    if size > limit:
        refuse(f"join() would build more than {limit} characters")
    return listed


def check_call(
    obj: Any, args: tuple[Any, ...], kwargs: dict[str, Any], limit: int, refuse: Refuse
) -> Args:
    """Checks of the string methods that multiply sizes (`obj` is what the template calls)."""
    target = getattr(obj, "__wrapped__", obj)  # the sandbox wraps str.format
    owner = getattr(target, "__self__", None)
    name = getattr(target, "__name__", "")
    if not isinstance(owner, str | bytes):
        return args, kwargs
    if name in _WIDTH_METHODS:
        _check_width(args[0] if args else kwargs.get("width"), limit, refuse)
    elif name == "expandtabs":
        tabs = owner.count("\t") if isinstance(owner, str) else owner.count(b"\t")
        if tabs * _int(args[0] if args else kwargs.get("tabsize"), 8) > limit:
            refuse(f"expandtabs() would build more than {limit} characters")
    elif name == "replace" and len(args) >= 2:
        _check_replace(owner, args[0], args[1], args[2] if len(args) > 2 else -1, limit, refuse)
    elif name == "join" and args:
        return (_check_join(owner, args[0], limit, refuse), *args[1:]), kwargs
    elif name in ("format", "format_map"):
        check_format(owner, limit, refuse)
    elif name == "translate":
        refuse("translate() is not allowed in templates")
    return args, kwargs


def check_filter(
    name: str, args: tuple[Any, ...], kwargs: dict[str, Any], limit: int, refuse: Refuse
) -> Args:
    """Checks of the built-in filters that multiply sizes; `args` as the filter receives them."""
    skip = 0
    while skip < len(args) and isinstance(args[skip], EvalContext | Context | Environment):
        skip += 1
    head, (value, *rest) = args[:skip], args[skip:] or (None,)

    def arg(position: int, keyword: str, default: Any = None) -> Any:
        return rest[position] if len(rest) > position else kwargs.get(keyword, default)

    if name == "center":
        _check_width(arg(0, "width"), limit, refuse)
    elif name == "indent":
        width = arg(0, "width", 4)
        lines = str(value).count("\n") + 1
        if lines * (len(width) if isinstance(width, str) else _int(width)) > limit:
            refuse(f"indent() would build more than {limit} characters")
    elif name == "replace":
        _check_replace(str(value), arg(0, "old"), arg(1, "new"), arg(2, "count"), limit, refuse)
    elif name == "join" and value is not None:
        listed = _check_join(arg(0, "d", ""), value, limit, refuse)
        return (*head, listed, *rest), kwargs
    elif name == "format":
        check_format(value, limit, refuse)
    elif name == "wordwrap":
        _check_width(arg(0, "width"), limit, refuse)
        wrap = arg(2, "wrapstring")
        if isinstance(wrap, str) and len(str(value)) * len(wrap) > limit:
            refuse(f"wordwrap() would build more than {limit} characters")
    elif name in ("batch", "slice"):
        _check_width(arg(0, "linecount" if name == "batch" else "slices"), 10_000, refuse)
    return args, kwargs
