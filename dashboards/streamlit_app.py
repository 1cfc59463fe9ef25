"""Streamlit entry point: `streamlit run dashboards/streamlit_app.py`."""

import streamlit as st

st.set_page_config(page_title="Murmuration", layout="wide")
st.title("Murmuration")
page = st.navigation({"Platform": [st.Page("app_pages/status.py", title="Services")]})
page.run()
