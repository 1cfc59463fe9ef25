import streamlit as st

from dashboards.lib import charts
from dashboards.lib.auth import require_user
from dashboards.lib.data import need_marts, query
from dashboards.lib.ui import delta, guard, pct, period_picker, ratio

user = require_user()
period = period_picker()
st.header("Overview")
st.caption(f"{user.account_name} · {period.days} days · times in {period.tz}")

with guard("the overview"):
    need_marts()
    now = query("overview_totals", user.account_id, period.start, period.end)
    before = query("overview_totals", user.account_id, *[period.previous.start, period.start])
    if not now["sends"] and not any(now.values()):
        st.info(
            "No sends in this time range. Pick a longer range in the sidebar, or create and "
            "schedule a campaign on the Campaigns page."
        )
        st.stop()

    def rates(t: dict[str, int]) -> dict[str, float | None]:
        return {
            "delivery": ratio(t["delivered"], t["sends"]),
            "open": ratio(t["unique_opens"], t["delivered"]),
            "click": ratio(t["unique_clicks"], t["delivered"]),
        }

    r_now, r_before = rates(now), rates(before)
    cols = list(st.columns(4))
    cols[0].metric("Sends", f"{now['sends']:,}", delta(now["sends"], before["sends"]))
    cols[1].metric(
        "Delivery rate",
        pct(r_now["delivery"]),
        delta(r_now["delivery"], r_before["delivery"], rate=True),
    )
    cols[2].metric(
        "Unique open rate", pct(r_now["open"]), delta(r_now["open"], r_before["open"], rate=True)
    )
    cols[3].metric(
        "Unique click rate",
        pct(r_now["click"]),
        delta(r_now["click"], r_before["click"], rate=True),
    )
    cols = list(st.columns(3))
    for col, key, label in zip(
        cols,
        ("bounced", "complained", "unsubscribed"),
        ("Bounces", "Complaints", "Unsubscribes"),
        strict=True,
    ):
        col.metric(label, f"{now[key]:,}", delta(now[key], before[key]), delta_color="inverse")
    st.caption(
        "Change is against the previous period of the same length. Rates: delivered over sends, "
        "unique opens and clicks over delivered."
    )

    daily = query("overview_daily", user.account_id, period.start, period.end, period.tz)
    if not daily.empty:
        sends, delivered = daily["sends"].astype(float), daily["delivered"].astype(float)
        daily["delivery_rate"] = (delivered / sends.where(sends > 0)).fillna(0.0)
        daily["unique_open_rate"] = (daily["unique_opens"] / delivered.where(delivered > 0)).fillna(
            0.0
        )
        daily["unique_click_rate"] = (
            daily["unique_clicks"] / delivered.where(delivered > 0)
        ).fillna(0.0)
    left, right = st.columns(2)
    left.altair_chart(
        charts.lines(daily, "day", ["sends", "delivered", "unique_opens", "unique_clicks"],
                     "Sends and engagement per day"),
        width="stretch",
    )  # fmt: skip
    right.altair_chart(
        charts.lines(daily, "day", ["delivery_rate", "unique_open_rate", "unique_click_rate"],
                     "Rates per day"),
        width="stretch",
    )  # fmt: skip
    left.altair_chart(
        charts.lines(daily, "day", ["bounced", "complained", "unsubscribed"],
                     "Bounces, complaints, unsubscribes per day"),
        width="stretch",
    )  # fmt: skip

    st.subheader("Top campaigns")
    top = query("top_campaigns", user.account_id, period.start, period.end)
    st.dataframe(
        top,
        hide_index=True,
        column_config={
            c: st.column_config.NumberColumn(format="percent")
            for c in top.columns
            if c.endswith("_rate")
        },
    )
