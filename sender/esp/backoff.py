"""Exponential backoff with full jitter, honouring the ESP's hint when it gives one."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

_HINT = re.compile(
    r"(?:retry|try again)\D{0,20}?(\d{1,5})\s*(s|sec|secs|seconds?|m|min|mins|minutes?)\b", re.I
)


@dataclass(frozen=True)
class Backoff:
    base_seconds: float = 0.5
    max_seconds: float = 30.0

    def delay(self, attempt: int, hint: float | None = None) -> float:
        """Seconds before retry number `attempt` (1-based).

        Full jitter, `uniform(0, min(max, base·2^(attempt-1)))`, spreads the workers' retries;
        an ESP hint (Retry-After) is a floor: we never come back sooner than asked, plus a
        jitter of up to one base delay so the workers that were told the same do not return
        together. Capped at `max_seconds`.
        """
        cap = min(self.max_seconds, self.base_seconds * 2 ** max(0, attempt - 1))
        jittered = random.uniform(0, cap)
        if hint is not None and hint > 0:
            return min(self.max_seconds, hint + random.uniform(0, self.base_seconds))
        return jittered


def hint_from_text(text: str) -> float | None:
    """A retry delay an SMTP answer asks for ("try again in 30 seconds"), in seconds."""
    found = _HINT.search(text)
    if not found:
        return None
    value = float(found.group(1))
    return value * 60 if found.group(2).lower().startswith("m") else value


def hint_from_header(value: str | None) -> float | None:
    """An HTTP Retry-After in delta-seconds (dates are ignored: the jittered backoff applies)."""
    if not value:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return seconds if seconds >= 0 else None
