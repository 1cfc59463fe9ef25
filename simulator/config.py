"""Rates and delays of the simulated outcomes, and where the simulator reads and writes.

Rates are probabilities per delivered message (bounces and deferrals per message); each
mailbox provider's profile (`simulator.providers`) scales them. Delays are seconds of real
time, multiplied by `time_scale`: the defaults compress a campaign's first day into about 10
seconds (a message's last step at most 11.5 s after it arrived, most within 5 s), so the demo
sees opens and clicks while it sends and waits little after the last mail. `load_overrides`
reads a JSON file such as
`{"rates": {"hard_bounce": 0.05}, "delays": {"open": [1, 5]}, "time_scale": 0.2}`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Rates:
    hard_bounce: float = 0.02
    soft_bounce: float = 0.01
    deferral: float = 0.06  # deferred at least once, then delivered
    complaint: float = 0.002
    open: float = 0.27  # a person opens (Apple MPP hides these: see machine_open)
    machine_open: float = 0.95  # Apple Mail Privacy Protection prefetch, iCloud recipients
    reopen: float = 0.3  # of openers
    click: float = 0.18  # of openers (of MPP recipients who read it)
    second_click: float = 0.25  # of clickers
    unsubscribe: float = 0.004


@dataclass(frozen=True)
class Delays:
    """(low, high) seconds after the event the step follows."""

    delivery: tuple[float, float] = (0.05, 0.5)
    deferral_retry: tuple[float, float] = (0.5, 2.0)
    machine_open: tuple[float, float] = (0.1, 0.5)
    open: tuple[float, float] = (0.25, 4.0)
    reopen: tuple[float, float] = (0.5, 2.5)
    click: tuple[float, float] = (0.25, 1.5)
    complaint: tuple[float, float] = (0.5, 3.0)
    unsubscribe: tuple[float, float] = (0.5, 3.0)


@dataclass(frozen=True)
class Config:
    maildir: Path
    state_dir: Path
    ingestion_url: str
    sendgrid_key_path: Path
    seed: int = 7
    rates: Rates = field(default_factory=Rates)
    delays: Delays = field(default_factory=Delays)
    time_scale: float = 1.0
    poll_seconds: float = 0.5
    batch_size: int = 500  # SendGrid posts up to this many events per request
    batch_seconds: float = 0.5
    concurrency: int = 16  # tracking requests in flight
    max_attempts: int = 8

    @property
    def ledger_path(self) -> Path:
        return self.state_dir / "ledger.json"

    @property
    def seen_path(self) -> Path:
        return self.state_dir / "seen.txt"


def _pair(name: str, value: Any) -> tuple[float, float]:
    if not isinstance(value, list | tuple) or len(value) != 2:
        raise ValueError(f"delays.{name} must be [low, high] seconds, got {value!r}")
    low, high = float(value[0]), float(value[1])
    if not 0 <= low <= high:
        raise ValueError(f"delays.{name} must satisfy 0 <= low <= high, got {value!r}")
    return low, high


def apply_overrides(config: Config, data: dict[str, Any]) -> Config:
    """`config` with the rates, delays and top-level numbers of `data` replaced (validated)."""
    unknown = set(data) - {"rates", "delays", "time_scale", "seed", "batch_size", "concurrency"}
    if unknown:
        raise ValueError(f"unknown simulator setting(s): {sorted(unknown)}")
    rates = config.rates
    rate_names = {f.name for f in fields(Rates)}
    for name, value in dict(data.get("rates") or {}).items():
        if name not in rate_names:
            raise ValueError(f"unknown rate {name!r}; known: {sorted(rate_names)}")
        if not isinstance(value, int | float) or not 0 <= float(value) <= 1:
            raise ValueError(f"rates.{name} must be a probability in [0, 1], got {value!r}")
        rates = replace(rates, **{name: float(value)})
    delays = config.delays
    delay_names = {f.name for f in fields(Delays)}
    for name, value in dict(data.get("delays") or {}).items():
        if name not in delay_names:
            raise ValueError(f"unknown delay {name!r}; known: {sorted(delay_names)}")
        delays = replace(delays, **{name: _pair(name, value)})
    out = replace(config, rates=rates, delays=delays)
    if "time_scale" in data:
        scale = float(data["time_scale"])
        if scale < 0:
            raise ValueError(f"time_scale must be >= 0, got {scale}")
        out = replace(out, time_scale=scale)
    if "seed" in data:
        out = replace(out, seed=int(data["seed"]))
    if "batch_size" in data:
        out = replace(out, batch_size=_positive("batch_size", data["batch_size"]))
    if "concurrency" in data:
        out = replace(out, concurrency=_positive("concurrency", data["concurrency"]))
    return out


def _positive(name: str, value: Any) -> int:
    number = int(value)
    if number < 1:
        raise ValueError(f"{name} must be >= 1, got {number}")
    return number


def load_overrides(config: Config, path: Path) -> Config:
    try:
        data = json.loads(path.read_text())
    except OSError as exc:
        raise ValueError(f"simulator config {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise ValueError(f"simulator config {path}: not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError(f"simulator config {path}: expected a JSON object")
    try:
        return apply_overrides(config, data)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"simulator config {path}: {exc}") from None
