"""Streamlit entry point: `streamlit run dashboards/streamlit_app.py` (or `murmur dashboards`).

Before sign-in the navigation holds only the sign-in page, so no other page is reachable; after
it, every page is scoped to the user's account and role.
"""

import streamlit as st

from dashboards.lib.auth import current_user, logout

st.set_page_config(page_title="Murmuration", layout="wide")
st.title("Murmuration")

user = current_user()
if user is None:
    page = st.navigation([st.Page("app_pages/login.py", title="Sign in", url_path="login")])
else:
    with st.sidebar:
        st.caption(f"{user.email} · {user.role} · {user.account_name}")
        if st.button("Sign out"):
            logout()
            st.rerun()
    page = st.navigation(
        {
            "Reporting": [
                st.Page("app_pages/overview.py", title="Overview", url_path="overview",
                        default=True),
                st.Page("app_pages/campaign_report.py", title="Campaign report",
                        url_path="campaign-report"),
                st.Page("app_pages/deliverability.py", title="Deliverability",
                        url_path="deliverability"),
                st.Page("app_pages/segments.py", title="Segments", url_path="segments"),
                st.Page("app_pages/contact_360.py", title="Contact 360", url_path="contact-360"),
            ],
            "Marketing": [
                st.Page("app_pages/campaigns.py", title="Campaigns", url_path="campaigns"),
            ],
            "Platform": [
                st.Page("app_pages/pipeline_health.py", title="Pipeline health",
                        url_path="pipeline-health"),
                st.Page("app_pages/status.py", title="Services", url_path="services"),
            ],
        }
    )  # fmt: skip
page.run()
