"""Altair charts shared by the pages."""

from __future__ import annotations

from typing import Any

import altair as alt
import pandas as pd

COMPLAINT_LIMIT = 0.003  # Gmail/Yahoo bulk-sender requirement: stay below 0.3%
COMPLAINT_SAFE = 0.001  # and aim below 0.1%


def lines(df: pd.DataFrame, x: str, columns: list[str], title: str, x_type: str = "T") -> Any:
    if df.empty or x not in df.columns:  # an empty result may come without column names
        df = pd.DataFrame({c: [] for c in (x, *columns)})
    long = df.melt(id_vars=[x], value_vars=columns, var_name="measure", value_name="value")
    return (
        alt.Chart(long, title=title)
        .mark_line(point=True)
        .encode(
            x=alt.X(f"{x}:{x_type}", title=None),
            y=alt.Y("value:Q", title=None),
            color=alt.Color("measure:N", title=None),
            tooltip=[f"{x}:{x_type}", "measure:N", "value:Q"],
        )
    )


def bars(df: pd.DataFrame, x: str, y: str, title: str, fmt: str | None = None) -> Any:
    axis = alt.Axis(format=fmt) if fmt else alt.Axis()
    return (
        alt.Chart(df, title=title)
        .mark_bar()
        .encode(
            x=alt.X(f"{x}:Q", title=None, axis=axis),
            y=alt.Y(f"{y}:N", title=None, sort="-x"),
            tooltip=[f"{y}:N", alt.Tooltip(f"{x}:Q", format=fmt or "")],
        )
    )


def complaint_rate(df: pd.DataFrame, by: str, title: str) -> Any:
    """Complaint rate per `by` with the 0.3% limit (red) and the 0.1% safe line (orange)."""
    data = df.assign(complaint_rate=df["complaint_rate"].astype(float).fillna(0.0))
    base = (
        alt.Chart(data)
        .mark_bar()
        .encode(
            x=alt.X("complaint_rate:Q", title="spam-complaint rate", axis=alt.Axis(format=".2%")),
            y=alt.Y(f"{by}:N", title=None, sort="-x"),
            tooltip=[f"{by}:N", alt.Tooltip("complaint_rate:Q", format=".3%"), "delivered:Q"],
        )
    )
    rules = pd.DataFrame(
        {
            "threshold": [COMPLAINT_LIMIT, COMPLAINT_SAFE],
            "line": ["0.3% bulk-sender limit", "0.1% safe line"],
        }
    )
    rule = (
        alt.Chart(rules)
        .mark_rule(strokeDash=[6, 3], size=2)
        .encode(
            x="threshold:Q",
            color=alt.Color(
                "line:N",
                scale=alt.Scale(domain=list(rules["line"]), range=["#d62728", "#ff7f0e"]),
                title="thresholds",
            ),
        )
    )
    return alt.layer(base, rule, title=title)


def funnel(steps: list[tuple[str, int]]) -> Any:
    df = pd.DataFrame(steps, columns=["step", "count"])
    df["order"] = range(len(df))
    return (
        alt.Chart(df, title="Funnel")
        .mark_bar()
        .encode(
            x=alt.X("count:Q", title=None),
            y=alt.Y("step:N", sort=alt.EncodingSortField("order"), title=None),
            tooltip=["step:N", "count:Q"],
        )
    )
