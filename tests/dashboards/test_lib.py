"""The dashboards' pure helpers: periods in a time zone, deltas, segment SQL, the thresholds."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest

from dashboards.lib import charts, reporting
from dashboards.lib.preview import data_url
from dashboards.lib.segments import segment_sql
from dashboards.lib.ui import delta, pct, period_for


def test_a_period_is_whole_days_in_the_chosen_zone_ending_today() -> None:
    now = dt.datetime(2026, 3, 10, 23, 30, tzinfo=dt.UTC)  # already the 11th in Paris
    period = period_for(7, "Europe/Paris", now)
    assert period.start == dt.datetime(2026, 3, 4, 23, tzinfo=dt.UTC)
    assert period.end == dt.datetime(2026, 3, 11, 23, tzinfo=dt.UTC)
    assert period.days == 7
    assert period.previous.end == period.start
    assert period.previous.start == dt.datetime(2026, 2, 25, 23, tzinfo=dt.UTC)


def test_changes_are_points_for_rates_and_percent_for_counts() -> None:
    assert delta(0.75, 0.5, rate=True) == "+25.0 pts"
    assert delta(150, 100) == "+50.0%"
    assert delta(5, 0) is None and delta(None, 1) is None
    assert pct(None) == "–" and pct(1 / 3) == "33.3%"


def test_a_criteria_segment_shows_its_compiled_sql() -> None:
    definition = {"all": [{"field": "status", "op": "eq", "value": "subscribed"}]}
    sql = segment_sql(str(uuid.uuid4()), "criteria", None, definition)
    assert "contacts.status = 'subscribed'" in sql
    bad = segment_sql(str(uuid.uuid4()), "criteria", None, {"all": [{"field": "x; drop"}]})
    assert bad.startswith("-- the criteria do not compile")
    assert "not found" in segment_sql(str(uuid.uuid4()), "dbt", "no_such_model", None)


def test_the_complaint_chart_draws_the_bulk_sender_lines() -> None:
    import pandas as pd

    df = pd.DataFrame({"mailbox_provider": ["Gmail"], "complaint_rate": [0.002], "delivered": [9]})
    spec = json.dumps(charts.complaint_rate(df, "mailbox_provider", "t").to_dict())
    assert "0.003" in spec and "0.001" in spec
    assert "0.3% bulk-sender limit" in spec and "0.1% safe line" in spec


def test_only_known_dimensions_reach_the_deliverability_sql() -> None:
    with pytest.raises(ValueError, match="mailbox_provider or sending_domain"):
        reporting.deliverability(None, "a", dt.date.today(), dt.date.today(), "1; drop")  # type: ignore[arg-type]


def test_the_preview_iframe_gets_an_opaque_origin_data_url() -> None:
    url = data_url("<p>hi</p>")
    assert url.startswith("data:text/html;charset=utf-8;base64,")
