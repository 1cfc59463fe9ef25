"""Page helpers: the time-range picker, the account's time zone, errors as messages."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from zoneinfo import ZoneInfo, available_timezones

import streamlit as st
from streamlit.runtime.scriptrunner_utils.exceptions import ScriptControlException

from dashboards.lib.connection import _secret

log = logging.getLogger("dashboards")

RANGES: dict[str, int] = {
    "Last 7 days": 7,
    "Last 30 days": 30,
    "Last 90 days": 90,
    "Last 365 days": 365,
}
DEFAULT_RANGE = "Last 30 days"
COMMON_ZONES = ("UTC", "Europe/London", "Europe/Paris", "America/New_York", "America/Los_Angeles")


@dataclass(frozen=True)
class Period:
    """A half-open UTC window [start, end) and the time zone it is shown in."""

    start: dt.datetime
    end: dt.datetime
    tz: str

    @property
    def previous(self) -> Period:
        length = self.end - self.start
        return Period(self.start - length, self.start, self.tz)

    @property
    def days(self) -> int:
        return max(1, round((self.end - self.start) / dt.timedelta(days=1)))


def default_timezone() -> str:
    """The account's zone: `[dashboards] timezone` in the secrets, else UTC."""
    zone = str(_secret("dashboards", "timezone") or "UTC")
    return zone if zone in available_timezones() or zone == "UTC" else "UTC"


def timezone_picker() -> str:
    """The zone reporting pages show times in (kept for the session)."""
    zones = sorted({default_timezone(), *COMMON_ZONES}) + sorted(
        available_timezones() - {default_timezone(), *COMMON_ZONES}
    )
    # kept in our own key: a widget's key is dropped when the user moves to another page
    current = str(st.session_state.get("tz_choice") or default_timezone())
    index = zones.index(current) if current in zones else zones.index("UTC")
    value = str(st.sidebar.selectbox("Time zone", zones, index=index))
    st.session_state["tz_choice"] = value
    return value


def period_picker(now: dt.datetime | None = None) -> Period:
    """The sidebar's time range: whole days in the chosen zone, ending today (inclusive)."""
    tz = timezone_picker()
    label = st.sidebar.selectbox(
        "Time range", list(RANGES), index=list(RANGES).index(DEFAULT_RANGE), key="range"
    )
    return period_for(RANGES[str(label)], tz, now)


def period_for(days: int, tz: str, now: dt.datetime | None = None) -> Period:
    zone = ZoneInfo(tz)
    today = (now or dt.datetime.now(dt.UTC)).astimezone(zone).date()
    end = dt.datetime.combine(today + dt.timedelta(days=1), dt.time(), zone)
    start = dt.datetime.combine(today - dt.timedelta(days=days - 1), dt.time(), zone)
    return Period(start.astimezone(dt.UTC), end.astimezone(dt.UTC), tz)


@contextlib.contextmanager
def guard(what: str) -> Iterator[None]:
    """Show a failure as a message naming what failed (the traceback goes to the log)."""
    try:
        yield
    except ScriptControlException:  # st.stop / st.rerun / st.switch_page pass through
        raise
    except Exception as exc:
        log.exception("dashboards: %s failed", what)
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
        st.error(f"Could not load {what}: {first}")


def pct(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{100 * value:.{digits}f}%"


def ratio(num: float, den: float) -> float | None:
    return num / den if den else None


def delta(now: float | None, before: float | None, *, rate: bool = False) -> str | None:
    """Period-over-period change: points for rates, percent for counts."""
    if now is None or before is None:
        return None
    if rate:
        return f"{100 * (now - before):+.1f} pts"
    if not before:
        return None
    return f"{100 * (now - before) / before:+.1f}%"
