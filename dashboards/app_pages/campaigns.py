import uuid

import pandas as pd
import streamlit as st

from dashboards.lib import actions, preview
from dashboards.lib.auth import require_user
from dashboards.lib.connection import postgres
from dashboards.lib.records import (
    campaign_list,
    ledger_counts,
    search_contacts,
    segment_list,
    template_list,
)
from dashboards.lib.ui import guard
from murmur.domain.campaign_checks import CampaignNotReady

user = require_user()
st.header("Campaigns")
editor = user.can("editor")
if not editor:
    st.caption("You are a viewer: you can watch campaigns; editors create, schedule and cancel.")

with guard("the campaigns"):
    templates = template_list(user.account_id)
    segments = segment_list(user.account_id)
    with st.expander("Create a campaign", expanded=False):
        if templates.empty:
            st.info("Create a template first (`POST /api/v1/templates`), then come back.")
        else:
            with st.form("create-campaign"):
                name = st.text_input("Name")
                subject = st.text_input("Subject", placeholder="Hello {{ first_name }}")
                t_labels = {int(r.template_id): str(r.name) for r in templates.itertuples()}
                template_id = st.selectbox("Template", list(t_labels),
                                           format_func=t_labels.__getitem__)  # fmt: skip
                s_labels = {int(r.segment_id): str(r.name) for r in segments.itertuples()}
                segment_id = st.selectbox(
                    "Segment",
                    [None, *s_labels],
                    format_func=lambda s: "—" if s is None else s_labels[s],
                )
                created = st.form_submit_button("Create draft", disabled=not editor)
            if created:
                row = actions.create_campaign(user, {"name": name, "subject": subject,
                    "template_id": template_id, "segment_id": segment_id})  # fmt: skip
                st.success(f"Created draft campaign #{row['campaign_id']} {row['name']!r}.")

    campaigns = campaign_list(user.account_id)
    if campaigns.empty:
        st.info("No campaigns yet: create one above from a template and a segment.")
        st.stop()
    st.dataframe(campaigns, hide_index=True)
    labels = {int(r.campaign_id): f"{r.name} (#{r.campaign_id}, {r.status})"
              for r in campaigns.itertuples()}  # fmt: skip
    campaign_id = st.selectbox("Campaign", list(labels), format_func=labels.__getitem__)
    current = campaigns[campaigns["campaign_id"] == campaign_id].iloc[0]
    status = str(current["status"])

    st.subheader("Progress")
    counts = ledger_counts(user.account_id, int(campaign_id))
    total = int(counts.get("total", 0))
    done = sum(int(counts.get(k, 0)) for k in ("sent", "failed", "skipped"))
    st.progress(done / total if total else 0.0, text=f"{done:,} of {total:,} done ({status})")
    st.dataframe(pd.DataFrame([counts]), hide_index=True)
    if status in ("scheduled", "sending"):
        st.button("Refresh progress")

    left, right = st.columns(2)
    with left:
        if status == "draft" and st.button("Schedule", disabled=not editor, type="primary"):
            try:
                row = actions.schedule(user, int(campaign_id))
                st.success(f"Scheduled for {row['scheduled_at']}.")
            except CampaignNotReady as exc:
                st.error("Not ready to send: " + str(exc))
    with right:
        if status in ("draft", "scheduled", "sending") and st.button(
            "Cancel campaign", disabled=not editor
        ):
            actions.cancel(user, int(campaign_id))
            st.success("Cancelled.")

with guard("the preview"):
    st.subheader("Preview")
    who = st.text_input("Preview for the contact whose email contains", key="preview-contact")
    if who.strip():
        found = search_contacts(user.account_id, who)
        if found.empty:
            st.info("No contact of this account matches.")
        else:
            contact_id = int(found["contact_id"].iloc[0])
            st.caption(f"Rendered for {found['email'].iloc[0]}")
            with postgres().connect() as conn:
                shown = preview.preview(conn, uuid.UUID(user.account_id), int(campaign_id),
                                        contact_id)  # fmt: skip
            st.markdown(f"**Subject:** {shown.subject}")
            html_tab, text_tab = st.tabs(["HTML", "Plain text"])
            with html_tab:
                # a data: URL has an opaque origin: the template's HTML cannot reach the app
                st.iframe(preview.data_url(shown.html), height=500)
            with text_tab:
                st.code(shown.text or "(no plain-text body)", language=None)
    else:
        st.caption("Type part of a contact's address to render the email for them.")

with guard("the test send"):
    st.subheader("Send a test")
    if not preview.test_send_available():
        st.caption(
            "Test sends need an SMTP relay (MURMUR_SMTP_URL) and tracking links "
            "(MURMUR_TRACKING_SECRET, MURMUR_TRACKING_BASE_URL), or the local stack."
        )
    else:
        to = st.text_input("Send a test to", key="test-to")
        if st.button("Send test", disabled=not editor or not to.strip()):
            with postgres().begin() as conn:
                preview.test_send(conn, uuid.UUID(user.account_id), int(campaign_id), to,
                                  actions.actor(user))  # fmt: skip
            st.success(f"Test sent to {to}.")
