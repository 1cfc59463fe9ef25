import streamlit as st

from dashboards.lib.status import current_state_dir, service_rows

state_dir = current_state_dir()
st.subheader("Local services")
st.caption(f"State dir: {state_dir}")
rows = service_rows(state_dir)
st.dataframe(rows, hide_index=True)
if rows and all(r["health"] == "healthy" for r in rows):
    st.success("Every service is healthy.")
else:
    st.warning("Some services are down: run `murmur stack up`.")
