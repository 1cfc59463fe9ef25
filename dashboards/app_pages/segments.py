import streamlit as st

from dashboards.lib.auth import require_user
from dashboards.lib.data import has_table, query
from dashboards.lib.records import segment_list
from dashboards.lib.segments import segment_sql
from dashboards.lib.ui import guard, period_picker

user = require_user()
period = period_picker()
st.header("Segments")

with guard("the segments"):
    segments = segment_list(user.account_id)
    if segments.empty:
        st.info(
            "This account has no segments yet. Create one with `POST /api/v1/segments` "
            "(JSON criteria or a dbt model under dbt_project/models/segments)."
        )
        st.stop()
    built = has_table("segment_membership")
    sizes = query("segment_sizes_now", user.account_id) if built else None
    table = segments.drop(columns=[c for c in ("definition",) if c in segments.columns])
    if sizes is not None and not sizes.empty:
        table = table.merge(sizes, on="segment_id", how="left")
        table["members"] = table["members"].fillna(0).astype(int)
    st.dataframe(table, hide_index=True)
    if not built:
        st.info(
            "Segment membership has not been computed yet: materialize the segment assets in "
            "Dagster (or `murmur pipelines materialize`); sizes and members appear here then."
        )

    labels = {int(r.segment_id): f"{r.name} (#{r.segment_id})" for r in segments.itertuples()}
    segment_id = st.selectbox("Segment", list(labels), format_func=labels.__getitem__)
    row = segments[segments["segment_id"] == segment_id].iloc[0].to_dict()
    cols = st.columns(3)
    members = 0
    if sizes is not None and not sizes.empty:
        match = sizes[sizes["segment_id"] == segment_id]
        members = int(match["members"].iloc[0]) if len(match) else 0
        last_run = match["computed_at"].iloc[0] if len(match) else None
    else:
        last_run = None
    last_run = row.get("last_computed_at") or last_run
    cols[0].metric("Members", f"{members:,}")
    cols[1].metric("Kind", str(row.get("kind")))
    cols[2].metric("Last run", str(last_run) if last_run is not None else "never")

    if built and has_table("segment_membership_history"):
        daily = query(
            "segment_sizes_daily", user.account_id, segment_id, period.start, period.days,
            period.tz,
        )  # fmt: skip
        if daily.empty:
            st.info("No membership history in this time range.")
        else:
            st.line_chart(daily, x="day", y="members")
    if built:
        st.subheader("Members (sample)")
        sample = query("segment_sample", user.account_id, segment_id)
        if sample.empty:
            st.info("No members right now.")
        else:
            st.dataframe(sample, hide_index=True)

    st.subheader("Definition")
    sql = segment_sql(user.account_id, str(row.get("kind")), row.get("dbt_model"),
                      row.get("definition"))  # fmt: skip
    st.code(sql, language="sql")
