"""What can go wrong with an import: the whole file refused, or single rows rejected."""

from __future__ import annotations


class ImportRefused(ValueError):
    """The file cannot be imported at all (4xx); nothing was written. The message says why."""

    def __init__(self, reason: str, status_code: int = 422) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status_code = status_code


class ImportFailed(RuntimeError):
    """The import stopped part-way (e.g. a CSV parse error); its transaction was rolled back."""


MAX_VALUE_CHARS = 200


def clip(value: str | None) -> str:
    """A raw value as shown in the error report: at most MAX_VALUE_CHARS characters."""
    if value is None:
        return ""
    return value if len(value) <= MAX_VALUE_CHARS else value[: MAX_VALUE_CHARS - 1] + "…"
