"""Errors the domain raises; the API maps them to HTTP (`murmur.api.errors`), the CLI to exits.

`NotFound` → 404, `Conflict` → 409, `InvalidInput` → 422. With a `field`, the API answers in the
validation-error shape (`[{"loc": [where, *field], "msg": ..., "type": ...}]`); without, as
`{"detail": message}`.
"""

from __future__ import annotations

from collections.abc import Sequence


class DomainError(Exception):
    """A business rule refused the operation; `message` says why, `field` names the input."""

    kind = "domain_error"

    def __init__(
        self, message: str, field: str | Sequence[str] | None = None, where: str = "body"
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field: tuple[str, ...] | None = (
            None if field is None else (field,) if isinstance(field, str) else tuple(field)
        )
        self.where = where

    @property
    def loc(self) -> list[str] | None:
        """Where the offending input was, FastAPI style (`["body", "email"]`), or None."""
        return None if self.field is None else [self.where, *self.field]


class NotFound(DomainError):
    kind = "not_found"

    @classmethod
    def of(cls, what: str, object_id: object) -> NotFound:
        return cls(f"{what} {object_id} not found")


class Conflict(DomainError):
    kind = "conflict"


class InvalidInput(DomainError, ValueError):
    """Bad input (also a ValueError, so pydantic validators may raise it)."""

    kind = "value_error"
