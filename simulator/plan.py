"""One message's fate, drawn once from a generator seeded by (seed, email record id).

The plan is a list of steps, each at an offset in seconds from the moment the simulator saw the
message. A hard bounce ends the story; a soft bounce comes after a deferral or two and no
delivery; everything else is delivered (some after deferrals), then may be opened (for Apple
Mail Privacy Protection recipients, a machine open right after delivery), re-opened, clicked,
complained about or unsubscribed from.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Literal

from simulator.config import Config
from simulator.mail import Sent
from simulator.providers import Profile, profile_for

Kind = Literal[
    "delivered",
    "deferred",
    "bounce_hard",
    "bounce_soft",
    "spamreport",
    "machine_open",
    "open",
    "click",
    "unsubscribe",
]
WEBHOOK_KINDS: frozenset[str] = frozenset(
    {"delivered", "deferred", "bounce_hard", "bounce_soft", "spamreport"}
)
# Bare "Mozilla/5.0" is how Apple's proxy fetches: the receiver marks these machine opens.
APPLE_MPP_AGENT = "Mozilla/5.0"
HUMAN_AGENTS: tuple[str, ...] = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Mobile/15E148",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.5 Safari/605.1.15",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Mobile Safari/537.36",
    "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17726; Pro)",
)


@dataclass(frozen=True)
class Step:
    at: float  # seconds after the message was seen
    kind: Kind
    index: int  # position in the plan: part of the event id, so a retry collapses
    url: str | None = None
    user_agent: str | None = None
    attempt: int = 1  # deferral attempt number


def _chance(rng: random.Random, p: float) -> bool:
    return rng.random() < min(1.0, max(0.0, p))


def _wait(rng: random.Random, bounds: tuple[float, float], scale: float) -> float:
    low, high = bounds
    return (low + (high - low) * rng.random()) * scale


def plan_for(sent: Sent, config: Config) -> list[Step]:
    """The steps for `sent`: the same for the same seed and email record id."""
    rng = random.Random(f"{config.seed}:{sent.email_record_id}")
    r, d, k = config.rates, config.delays, config.time_scale
    prof: Profile = profile_for(sent.domain)
    steps: list[Step] = []

    def add(
        at: float,
        kind: Kind,
        url: str | None = None,
        user_agent: str | None = None,
        attempt: int = 1,
    ) -> None:
        steps.append(Step(at, kind, len(steps), url, user_agent, attempt))

    t = _wait(rng, d.delivery, k)
    if _chance(rng, r.hard_bounce * prof.hard):
        add(t, "bounce_hard")
        return steps
    if _chance(rng, r.soft_bounce * prof.soft):
        add(t, "deferred", attempt=1)
        add(t + _wait(rng, d.deferral_retry, k), "bounce_soft")
        return steps
    if _chance(rng, r.deferral * prof.deferral):
        for attempt in range(1, 1 + rng.choice((1, 1, 2))):
            add(t, "deferred", attempt=attempt)
            t += _wait(rng, d.deferral_retry, k)
    add(t, "delivered")
    delivered = t
    reads = _chance(rng, r.open * prof.open)
    read_at = delivered + _wait(rng, d.open, k)
    if sent.open_url:
        if prof.apple_mpp:
            if _chance(rng, r.machine_open):
                at = delivered + _wait(rng, d.machine_open, k)
                add(at, "machine_open", url=sent.open_url, user_agent=APPLE_MPP_AGENT)
        elif reads:
            agent = rng.choice(HUMAN_AGENTS)
            add(read_at, "open", url=sent.open_url, user_agent=agent)
            if _chance(rng, r.reopen):
                again = read_at + _wait(rng, d.reopen, k)
                add(again, "open", url=sent.open_url, user_agent=agent)
    if reads and sent.click_urls and _chance(rng, r.click):
        agent = rng.choice(HUMAN_AGENTS)
        at = read_at + _wait(rng, d.click, k)
        add(at, "click", url=rng.choice(sent.click_urls), user_agent=agent)
        if _chance(rng, r.second_click):
            at += _wait(rng, d.click, k)
            add(at, "click", url=rng.choice(sent.click_urls), user_agent=agent)
    if _chance(rng, r.complaint * prof.complaint):
        add(delivered + _wait(rng, d.complaint, k), "spamreport")
    elif sent.unsubscribe_url and sent.one_click and _chance(rng, r.unsubscribe):
        agent = rng.choice(HUMAN_AGENTS)
        at = delivered + _wait(rng, d.unsubscribe, k)
        add(at, "unsubscribe", url=sent.unsubscribe_url, user_agent=agent)
    return steps
