import io

import pandas as pd
import streamlit as st

from dashboards.lib import charts
from dashboards.lib.auth import require_user
from dashboards.lib.data import analytics, need_marts, query
from dashboards.lib.records import ledger_counts
from dashboards.lib.ui import guard, pct, timezone_picker

user = require_user()
tz = timezone_picker()
st.header("Campaign report")

with guard("the campaign report"):
    need_marts()
    campaigns = query("campaigns_with_sends", user.account_id)
    if campaigns.empty:
        st.info(
            "No campaign has sent anything yet. Schedule one on the Campaigns page; its report "
            "appears here after the next analytics refresh."
        )
        st.stop()
    labels = {
        int(r.campaign_id): f"{r.campaign_name or 'campaign'} (#{r.campaign_id})"
        for r in campaigns.itertuples()
    }
    campaign_id = st.selectbox("Campaign", list(labels), format_func=labels.__getitem__)
    report = analytics(user.account_id, int(campaign_id))
    if report is None:
        st.info("This campaign has no sends in the marts yet: wait for the next refresh.")
        st.stop()
    totals = report["totals"]
    ledger = ledger_counts(user.account_id, int(campaign_id))
    st.caption(f"Marts refreshed at {report['refreshed_at']} UTC · times in {tz}")

    cols = st.columns(5)
    cols[0].metric("Sends", f"{totals['sends']:,}")
    cols[1].metric("Delivery rate", pct(totals["delivery_rate"]))
    cols[2].metric("Unique open rate", pct(totals["open_rate"]))
    cols[3].metric("Unique click rate", pct(totals["click_rate"]))
    cols[4].metric("Unsubscribes", f"{totals['unsubscribed']:,}")

    steps = [
        ("queued", int(ledger["total"])),
        ("sent", int(totals["sends"])),
        ("delivered", int(totals["delivered"])),
        ("opened", int(totals["unique_opens"])),
        ("clicked", int(totals["unique_clicks"])),
    ]
    left, right = st.columns(2)
    left.altair_chart(charts.funnel(steps), width="stretch")
    left.dataframe(pd.DataFrame(steps, columns=["step", "count"]), hide_index=True)

    hourly = query("campaign_hourly", user.account_id, int(campaign_id), tz)
    right.altair_chart(
        charts.lines(hourly, "hour", ["sends", "delivered", "unique_opens", "unique_clicks",
                                      "unsubscribed"], "Timeline by hour"),
        width="stretch",
    )  # fmt: skip

    st.subheader("Top links")
    links = pd.DataFrame(report["top_links"], columns=["url", "clicks", "unique_clicks"])
    if links.empty:
        st.info("No clicks yet: links appear here once recipients click them.")
    else:
        st.dataframe(links, hide_index=True)

    left, right = st.columns(2)
    left.subheader("Bounces by type")
    bounces = query("campaign_bounces", user.account_id, int(campaign_id))
    if bounces.empty:
        left.success("No bounces.")
    else:
        left.dataframe(bounces, hide_index=True)
    right.subheader("By mailbox provider")
    providers = pd.DataFrame(report["by_mailbox_provider"])
    right.dataframe(providers, hide_index=True)

    out = io.StringIO()
    summary = pd.DataFrame([{"campaign_id": campaign_id, **totals}])
    summary.to_csv(out, index=False)
    out.write("\n")
    hourly.to_csv(out, index=False)
    st.download_button(
        "Download CSV",
        out.getvalue(),
        file_name=f"campaign-{campaign_id}-report.csv",
        mime="text/csv",
    )
