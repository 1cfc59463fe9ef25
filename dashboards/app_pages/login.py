import streamlit as st

from dashboards.lib.auth import login
from dashboards.lib.ui import guard

st.header("Sign in")
reason = st.session_state.pop("logout_reason", None)
if reason:
    st.warning(reason)
with st.form("login"):
    email = st.text_input("Email")
    password = st.text_input("Password", type="password")
    account = st.text_input("Account (only when your email is in several accounts)")
    submitted = st.form_submit_button("Sign in", type="primary")
if submitted:
    with guard("the sign-in"):
        outcome = login(email, password, account.strip() or None)
        if isinstance(outcome, str):
            st.error(outcome)
        else:
            st.rerun()
st.caption("Users are the account's platform users (`POST /api/v1/users`, an admin creates them).")
