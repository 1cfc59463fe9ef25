"""A circuit breaker per ESP: open on a high error rate over a window, half-open after a cool-down.

Closed: every outcome goes into a sliding window of the last `window` attempts; when at least
`min_calls` are in it and the failure share reaches `failure_rate`, the circuit opens. Open: no
traffic for `cooldown_seconds`. Half-open: one probe at a time; a success closes the circuit
(window cleared), a failure opens it again for another cool-down. Every transition is kept in
`transitions` (and logged) so the send job can show it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger("sender.circuit")


@dataclass(frozen=True)
class CircuitConfig:
    window: int = 20
    min_calls: int = 5
    failure_rate: float = 0.5
    cooldown_seconds: float = 30.0


@dataclass(frozen=True)
class Transition:
    esp: str
    state: str  # open | half_open | closed
    at: float  # time.time()
    reason: str


class CircuitBreaker:
    def __init__(
        self,
        name: str,
        config: CircuitConfig,
        clock: Callable[[], float] = time.monotonic,
        on_change: Callable[[Transition], None] | None = None,
    ) -> None:
        self.name = name
        self.config = config
        self.clock = clock
        self.on_change = on_change
        self.lock = threading.Lock()
        self.outcomes: deque[bool] = deque(maxlen=config.window)
        self.state = "closed"
        self.opened_at = 0.0
        self.probing = False
        self.transitions: list[Transition] = []

    def _move(self, state: str, reason: str) -> None:
        self.state = state
        change = Transition(self.name, state, time.time(), reason)
        self.transitions.append(change)
        log.warning("ESP %s circuit %s: %s", self.name, state, reason)
        if self.on_change is not None:
            self.on_change(change)

    def allow(self) -> bool:
        """Whether a message may go to this ESP now (half-open: only the one probe)."""
        with self.lock:
            if self.state == "closed":
                return True
            if self.state == "open":
                if self.clock() - self.opened_at < self.config.cooldown_seconds:
                    return False
                self._move("half_open", f"cool-down of {self.config.cooldown_seconds:g}s over")
            if self.probing:
                return False
            self.probing = True
            return True

    def reopens_in(self) -> float:
        """Seconds until an open circuit lets a probe through (0 when it would now)."""
        with self.lock:
            if self.state != "open":
                return 0.0
            return max(0.0, self.config.cooldown_seconds - (self.clock() - self.opened_at))

    def record(self, ok: bool, detail: str = "") -> None:
        with self.lock:
            if self.state == "half_open":
                self.probing = False
                if ok:
                    self.outcomes.clear()
                    self._move("closed", "probe succeeded")
                else:
                    self.opened_at = self.clock()
                    self._move("open", f"probe failed: {detail}"[:300])
                return
            if self.state == "open":
                return  # an attempt started before the circuit opened
            self.outcomes.append(ok)
            failures = self.outcomes.count(False)
            calls = len(self.outcomes)
            if calls >= self.config.min_calls and failures / calls >= self.config.failure_rate:
                self.opened_at = self.clock()
                self.outcomes.clear()
                self._move(
                    "open", f"{failures} of the last {calls} attempts failed: {detail}"[:300]
                )
