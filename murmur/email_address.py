"""Email address syntax validation and normalization (no DNS), shared by every write path."""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email


class InvalidEmail(ValueError):
    """The address is not a valid email address; the message says why."""


def normalize_email(raw: str) -> str:
    """Validate `raw`; return its normalized form (trimmed, lower-cased) or raise InvalidEmail."""
    candidate = raw.strip()
    if not candidate:
        raise InvalidEmail("email is empty")
    try:
        info = validate_email(candidate, check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidEmail(str(exc)) from None
    return info.normalized.lower()
