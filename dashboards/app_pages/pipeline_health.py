import datetime as dt

import streamlit as st

from dashboards.lib import pipeline
from dashboards.lib.auth import require_user
from dashboards.lib.connection import dagster_url, settings
from dashboards.lib.data import marts_ready, query
from dashboards.lib.ui import guard, timezone_picker

user = require_user()
tz = timezone_picker()
st.header("Pipeline health")
conf = settings()

with guard("the ingestion status"):
    st.subheader("Ingestion")
    bootstrap = conf.kafka_bootstrap_servers
    if not bootstrap:
        st.info("No Kafka broker is configured: set MURMUR_KAFKA_BOOTSTRAP_SERVERS or run "
                "`murmur stack up`.")  # fmt: skip
    else:
        health = pipeline.kafka_health(bootstrap, (conf.consumer_group, conf.feedback_group))
        cols = st.columns(3)
        lags = [g["lag"] for g in health["groups"] if g["lag"] is not None]
        cols[0].metric("Consumer lag (messages)", f"{sum(lags):,}" if lags else "?")
        dlq = health["dlq"]
        cols[1].metric("Dead letters (DLQ)", "?" if dlq is None else f"{dlq:,}")
        st.dataframe(health["groups"], hide_index=True)
        for g in health["groups"]:
            if g["error"]:
                st.warning(f"Kafka group {g['group']}: {g['error']}")
        if health["dlq_error"]:
            st.warning(f"DLQ topic: {health['dlq_error']}")
        elif dlq:
            st.warning(f"{dlq:,} messages are on the dead-letter topic: see `murmur ingestion`.")
    if marts_ready():
        end = dt.datetime.now(dt.UTC)
        hourly = query("throughput_hourly", user.account_id, end - dt.timedelta(days=1), end, tz)
        if hourly.empty:
            st.info("No events landed in the last 24 hours (by ingestion time, as of the marts).")
        else:
            st.bar_chart(hourly, x="hour", y="events", color="event_type")
            st.caption("Events landed per hour over the last 24 hours (fct_email_events).")

with guard("the Dagster runs"):
    st.subheader("Dagster")
    base = dagster_url()
    if base:
        st.markdown(f"[Open the Dagster UI]({base})")
    home = pipeline.dagster_home(conf.state_dir)
    if not home.exists():
        st.info("Dagster has not run here yet: `murmur stack up dagster` starts it, or "
                "`murmur pipelines materialize` runs the assets once.")  # fmt: skip
        st.stop()
    runs, checks = pipeline.dagster_runs(str(home))
    if runs.empty:
        st.info("No Dagster run yet: materialize the assets in the Dagster UI.")
        st.stop()
    failed = int((runs["status"] == "FAILURE").sum())
    cols = st.columns(3)
    cols[0].metric("Last runs", len(runs))
    cols[1].metric("Failed", failed)
    if not checks.empty:
        cols[2].metric("Checks failed", int((~checks["passed"]).sum()))
    runs["link"] = [pipeline.run_link(base, r) for r in runs["run_id"]]
    st.dataframe(runs, hide_index=True,
                 column_config={"link": st.column_config.LinkColumn("Dagster UI")})  # fmt: skip
    st.subheader("Asset checks")
    if checks.empty:
        st.info("The last runs evaluated no asset check.")
    else:
        checks["link"] = [pipeline.asset_link(base, a) for a in checks["asset"]]
        st.dataframe(checks, hide_index=True,
                     column_config={"link": st.column_config.LinkColumn("Dagster UI")})  # fmt: skip
