import datetime as dt

import streamlit as st

from dashboards.lib import charts
from dashboards.lib.auth import require_user
from dashboards.lib.data import need_marts, query
from dashboards.lib.records import suppression_growth
from dashboards.lib.ui import guard, pct, period_picker, ratio

user = require_user()
period = period_picker()
st.header("Deliverability")
st.caption(
    f"{user.account_name} · times in {period.tz}; the daily deliverability mart counts UTC days "
    "of sending"
)
first_day = period.start.date()
end_day = period.end.date() + dt.timedelta(days=1)

with guard("deliverability"):
    need_marts()
    providers = query("deliverability", user.account_id, first_day, end_day, "mailbox_provider")
    if providers.empty:
        st.info(
            "No sends in this time range, so no deliverability yet. Pick a longer range, or "
            "send a campaign and wait for the next analytics refresh."
        )
        st.stop()
    sends, delivered = int(providers["sends"].sum()), int(providers["delivered"].sum())
    bounced, complained = int(providers["bounced"].sum()), int(providers["complained"].sum())
    complaint = ratio(complained, delivered)
    cols = st.columns(4)
    cols[0].metric("Sends", f"{sends:,}")
    cols[1].metric("Bounce rate", pct(ratio(bounced, sends), 2))
    cols[2].metric("Spam-complaint rate", pct(complaint, 3))
    cols[3].metric("Complaints", f"{complained:,}")
    if complaint is not None and complaint >= charts.COMPLAINT_LIMIT:
        st.error("The complaint rate is at or above 0.3%, the Gmail/Yahoo bulk-sender limit.")
    elif complaint is not None and complaint >= charts.COMPLAINT_SAFE:
        st.warning("The complaint rate is above 0.1%: Gmail and Yahoo advise staying below it.")

    domains = query("deliverability", user.account_id, first_day, end_day, "sending_domain")
    left, right = st.columns(2)
    left.altair_chart(
        charts.complaint_rate(providers, "mailbox_provider", "Complaint rate by mailbox provider"),
        width="stretch",
    )
    right.altair_chart(
        charts.complaint_rate(domains, "sending_domain", "Complaint rate by sending domain"),
        width="stretch",
    )
    left.altair_chart(
        charts.bars(providers, "bounce_rate", "mailbox_provider", "Bounce rate by provider", ".1%"),
        width="stretch",
    )
    right.altair_chart(
        charts.bars(domains, "bounce_rate", "sending_domain", "Bounce rate by sending domain",
                    ".1%"),
        width="stretch",
    )  # fmt: skip
    rate_columns = {
        c: st.column_config.NumberColumn(format="percent")
        for c in ("bounce_rate", "complaint_rate")
    }
    st.subheader("By mailbox provider")
    st.dataframe(providers, hide_index=True, column_config=rate_columns)
    st.subheader("By sending domain")
    st.dataframe(domains, hide_index=True, column_config=rate_columns)

    st.subheader("Deferrals")
    deferrals = query("deferrals_daily", user.account_id, period.start, period.end, period.tz)
    if deferrals.empty:
        st.success("No deferrals in this time range.")
    else:
        st.bar_chart(deferrals, x="day", y="deferrals", color="recipient_domain")

with guard("the suppression list"):
    st.subheader("Suppression list growth")
    growth = suppression_growth(user.account_id, period.start, period.end, period.tz)
    if growth.empty:
        st.info("No address was suppressed in this time range.")
    else:
        st.metric("Suppressed addresses", f"{int(growth['total'].iloc[-1]):,}")
        st.bar_chart(growth, x="day", y="added", color="reason")
