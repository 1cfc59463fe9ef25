"""Service status for the dashboards, read from the local stack."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from murmur.settings import get_settings
from murmur.stack.manager import Stack


@st.cache_data(ttl=10)
def service_rows(state_dir: str) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for s in Stack(Path(state_dir)).status():
        rows.append(
            {
                "service": s.name,
                "health": "healthy" if s.healthy else ("unhealthy" if s.pid else "down"),
                "pid": s.pid,
                "url": " ".join(s.urls.values()),
            }
        )
    return rows


def current_state_dir() -> str:
    return str(get_settings().state_dir)
