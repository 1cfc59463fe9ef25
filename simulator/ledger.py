"""What the simulator posted, counted per campaign, written to `<state>/ledger.json`.

Only what the receiver accepted counts (a 200 for a webhook batch or a tracking hit). Per
campaign the ledger holds the events posted by kind and the per-send outcomes in the words of
the `campaign_performance` mart (delivered, bounced, hard/soft, unique opens with and without
machine opens, unique clicks, complaints, unsubscribes, total opens and clicks), so a test can
compare the two numbers for numbers. `pending` is how many steps are still scheduled.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from simulator.plan import Step

_DELIVERED, _HARD, _SOFT, _OPEN, _HUMAN, _CLICK, _COMPLAINT, _UNSUB = (1 << i for i in range(8))
_FLAG = {
    "delivered": _DELIVERED,
    "bounce_hard": _HARD,
    "bounce_soft": _SOFT,
    "machine_open": _OPEN,
    "open": _OPEN | _HUMAN,
    "click": _CLICK,
    "spamreport": _COMPLAINT,
    "unsubscribe": _UNSUB,
}


def _contribution(bits: int) -> Counter[str]:
    """What one send with these outcome bits adds to the mart's per-campaign counts."""
    hard = bool(bits & _HARD)
    delivered = bool(bits & _DELIVERED) and not hard
    bounced = hard or (bool(bits & _SOFT) and not bits & _DELIVERED)
    return Counter(
        {
            "delivered": delivered,
            "bounced": bounced,
            "hard_bounced": hard,
            "soft_bounced": bounced and not hard,
            "unique_opens": bool(bits & _OPEN),
            "unique_human_opens": bool(bits & _HUMAN),
            "unique_clicks": bool(bits & _CLICK),
            "complained": bool(bits & _COMPLAINT),
            "unsubscribed": bool(bits & _UNSUB),
        }
    )


_ZERO = _contribution(0)
_KEYS = tuple(_ZERO)


@dataclass
class _Campaign:
    messages: int = 0
    events: Counter[str] = field(default_factory=Counter)
    flags: dict[int, int] = field(default_factory=dict)  # email record id → outcome bits
    # the sum of every send's contribution, kept as the flags change: the ledger is written
    # twice a second, and summing 20,000 sends each time was most of an idle simulator's CPU
    totals: Counter[str] = field(default_factory=Counter)

    def flag(self, email_record_id: int, bit: int) -> None:
        before = self.flags.get(email_record_id, 0)
        after = before | bit
        self.flags[email_record_id] = after
        if after != before:
            self.totals.update(_contribution(after))
            self.totals.subtract(_contribution(before))

    def outcomes(self) -> dict[str, int]:
        out = {key: int(self.totals[key]) for key in _KEYS}
        out["sends"] = self.messages
        out["total_opens"] = self.events["open"] + self.events["machine_open"]
        out["total_clicks"] = self.events["click"]
        return dict(sorted(out.items()))


class Ledger:
    def __init__(self, path: Path, seed: int) -> None:
        self.path = path
        self.seed = seed
        self.campaigns: dict[str, _Campaign] = {}
        self.pending = 0
        self.messages = 0
        self.skipped = 0  # messages without our correlation header
        self.failed: Counter[str] = Counter()  # steps given up after every retry
        self.dirty = True
        self.started_at = time.time()
        self.last_activity_at: float | None = None

    def _campaign(self, campaign_id: int | None) -> _Campaign:
        key = str(campaign_id) if campaign_id is not None else "unknown"
        return self.campaigns.setdefault(key, _Campaign())

    def message(self, campaign_id: int | None, email_record_id: int, steps: int) -> None:
        camp = self._campaign(campaign_id)
        camp.messages += 1
        camp.flags.setdefault(email_record_id, 0)
        self.messages += 1
        self.pending += steps
        self._touch()

    def posted(self, campaign_id: int | None, email_record_id: int, step: Step) -> None:
        camp = self._campaign(campaign_id)
        camp.events[step.kind] += 1
        camp.flag(email_record_id, _FLAG.get(step.kind, 0))
        self.pending -= 1
        self._touch()

    def gave_up(self, step: Step) -> None:
        self.failed[step.kind] += 1
        self.pending -= 1
        self._touch()

    def _touch(self) -> None:
        self.dirty = True
        self.last_activity_at = time.time()

    def snapshot(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "pid": os.getpid(),
            "started_at": self.started_at,
            "updated_at": time.time(),
            "last_activity_at": self.last_activity_at,
            "messages": self.messages,
            "skipped_messages": self.skipped,
            "pending": self.pending,
            "failed": dict(self.failed),
            "campaigns": {
                key: {
                    "messages": camp.messages,
                    "events": dict(sorted(camp.events.items())),
                    "outcomes": camp.outcomes(),
                }
                for key, camp in sorted(self.campaigns.items())
            },
        }

    def write(self) -> None:
        """Atomically replace the JSON file (readers never see half of it)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.snapshot(), indent=1))
        tmp.replace(self.path)
        self.dirty = False


def read_ledger(path: Path) -> dict[str, Any] | None:
    """The last ledger written, or None before the first."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
