import pandas as pd
import streamlit as st

from dashboards.lib import actions
from dashboards.lib.auth import require_user
from dashboards.lib.data import has_table, marts_ready, query
from dashboards.lib.records import consent_history, contact_row, search_contacts, segment_names
from dashboards.lib.ui import guard, timezone_picker

user = require_user()
tz = timezone_picker()
st.header("Contact 360")

text = st.text_input("Search by email", placeholder="part of an address, e.g. alice@")
if not text.strip():
    st.info("Type part of an email address to find a contact of this account.")
    st.stop()

with guard("the contact search"):
    found = search_contacts(user.account_id, text)
    if found.empty:
        st.info(f"No contact of this account matches {text.strip()!r}.")
        st.stop()
    labels = {int(r.contact_id): f"{r.email} (#{r.contact_id})" for r in found.itertuples()}
    contact_id = st.selectbox("Contact", list(labels), format_func=labels.__getitem__)
    contact = contact_row(user.account_id, int(contact_id))
    if contact is None:
        st.warning("This contact no longer exists (erased or deleted).")
        st.stop()

    st.subheader(contact["email"])
    cols = list(st.columns(4))
    cols[0].metric("Status", contact["status"])
    cols[1].metric("Consent", contact.get("consent_source") or "none recorded")
    consent_at = contact.get("consent_at")
    cols[2].metric("Consent at", consent_at.astimezone(tz).strftime("%Y-%m-%d %H:%M") if consent_at
                   else "–")  # fmt: skip
    name = " ".join(p for p in (contact.get("first_name"), contact.get("last_name")) if p)
    cols[3].metric("Name", name or "–")
    history = consent_history(user.account_id, int(contact_id))
    if not history.empty:
        with st.expander("Consent history"):
            st.dataframe(history, hide_index=True)

with guard("the contact's activity"):
    if not marts_ready():
        st.info("Activity appears once the reporting marts are built (`murmur pipelines ...`).")
    else:
        engagement = query("contact_engagement", user.account_id, int(contact_id))
        if engagement:
            cols = list(st.columns(3))
            cols[0].metric("Engagement score", int(engagement["engagement_score"]))
            cols[1].metric("Recency", str(engagement["recency_bucket"]))
            cols[2].metric("Sends", int(engagement["sends"]))
        if has_table("segment_membership"):
            member = query("contact_segments", user.account_id, int(contact_id))
            ids = [int(s) for s in member["segment_id"]] if "segment_id" in member else []
            names = segment_names(user.account_id, ids)
            st.markdown("**Segments:** " + (", ".join(names.values()) or "none"))
        timeline = query("contact_timeline", user.account_id, int(contact_id))
        st.subheader("Activity timeline")
        if timeline.empty:
            st.info("No email activity for this contact yet.")
        else:
            timeline["event_at"] = pd.to_datetime(timeline["event_at"], utc=True).dt.tz_convert(tz)
            st.dataframe(timeline, hide_index=True)

st.divider()
st.subheader("Personal data")
if not user.can("admin"):
    st.caption("Export and erasure are for admins.")
else:
    with guard("the export"):
        if st.button("Prepare export", key="export"):
            st.session_state["export_json"] = (contact_id, actions.export(user, int(contact_id)))
        prepared = st.session_state.get("export_json")
        if prepared and prepared[0] == contact_id and prepared[1]:
            st.download_button(
                "Download export (JSON)",
                prepared[1],
                file_name=f"contact-{contact_id}.json",
                mime="application/json",
            )
    with guard("the erasure"):
        confirm = st.text_input(
            "To erase, type the contact's email address", key=f"erase-confirm-{contact_id}"
        )
        sure = confirm.strip().lower() == str(contact["email"]).lower()
        if st.button("Erase this contact", type="primary", disabled=not sure, key="erase"):
            result = actions.erase(user, int(contact_id))
            st.session_state.pop("export_json", None)
            st.success(f"Erased contact {contact_id}: {result}")
