"""Named SQL: each `sender/queries/<file>.sql` holds `-- name: <query-name>` blocks."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

_NAME = re.compile(r"^--\s*name:\s*(\S+)\s*$", re.MULTILINE)


class QueryNotFound(KeyError):
    """No query of that name in the file."""


def parse(text: str) -> dict[str, str]:
    """Split a SQL file into {name: statement}; comments before the first name are dropped."""
    parts = _NAME.split(text)
    queries: dict[str, str] = {}
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        if name in queries:
            raise ValueError(f"query {name!r} is defined twice")
        queries[name] = body.strip().rstrip(";").strip()
    return queries


@cache
def load(file: str) -> dict[str, str]:
    """The queries of `sender/queries/<file>.sql` by name."""
    return parse((Path(__file__).parent / f"{file}.sql").read_text())


def query(file: str, name: str) -> str:
    try:
        return load(file)[name]
    except KeyError:
        raise QueryNotFound(f"no query {name!r} in sender/queries/{file}.sql") from None
