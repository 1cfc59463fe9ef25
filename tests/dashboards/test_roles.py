"""Roles on the pages that change things: viewers watch, editors schedule, admins erase."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from streamlit.testing.v1 import AppTest

from dashboards.lib import actions
from dashboards.lib.auth import NotAllowed
from murmur.db.engine import make_engine
from murmur.db.tables import campaigns, contacts
from tests.dashboards.conftest import SignIn
from tests.dashboards.world import World

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _status(world: World, campaign_id: int) -> str:
    engine = make_engine(world.settings.postgres_url or "", pool_size=1, max_overflow=0)
    try:
        with engine.connect() as conn:
            return str(
                conn.execute(
                    sa.select(campaigns.c.status).where(campaigns.c.campaign_id == campaign_id)
                ).scalar_one()
            )
    finally:
        engine.dispose()


def _campaigns(at: AppTest, campaign_id: int) -> AppTest:
    at.switch_page("app_pages/campaigns.py").run()
    select = next(s for s in at.selectbox if s.label == "Campaign")
    select.set_value(campaign_id).run()
    assert not at.exception, at.exception
    return at


def _button(at: AppTest, label: str):  # type: ignore[no-untyped-def]
    return next(b for b in at.button if b.label == label)


def test_viewers_cannot_schedule_cancel_or_erase(signed_in: SignIn, world: World) -> None:
    at = _campaigns(signed_in("viewer"), world.draft_campaign_id)
    assert _button(at, "Schedule").disabled and _button(at, "Cancel campaign").disabled
    assert at.form_submit_button[0].disabled  # "Create draft"
    # a browser cannot click a disabled button; the actions check the role again anyway
    user = at.session_state["user"]
    assert user.role == "viewer"
    for action in (actions.schedule, actions.cancel, actions.erase, actions.export):
        with pytest.raises(NotAllowed, match=r"needs the (editor|admin) role"):
            action(user, world.draft_campaign_id)
    assert _status(world, world.draft_campaign_id) == "draft"


def test_an_editor_previews_schedules_and_cancels_a_campaign(
    signed_in: SignIn, world: World
) -> None:
    at = _campaigns(signed_in("editor"), world.draft_campaign_id)
    at.text_input(key="preview-contact").input("alice@").run()
    assert not at.exception
    assert "Hi alice@gmail.com" in " ".join(m.value for m in at.markdown)
    assert at.code[0].value == "Hello alice@gmail.com"
    _button(at, "Schedule").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert _status(world, world.draft_campaign_id) == "scheduled"
    at = _campaigns(at, world.draft_campaign_id)
    _button(at, "Cancel campaign").click().run()
    assert _status(world, world.draft_campaign_id) == "cancelled"


def test_the_campaign_progress_is_the_ledger(signed_in: SignIn, world: World) -> None:
    at = _campaigns(signed_in("viewer"), world.campaign_id)
    counts = next(df.value for df in at.dataframe if "total" in df.value.columns)
    assert int(counts["total"].iloc[0]) == 6 and int(counts["sent"].iloc[0]) == 6


def test_only_admins_export_and_erase_after_confirming(signed_in: SignIn, world: World) -> None:
    editor = signed_in("editor")
    editor.switch_page("app_pages/contact_360.py").run()
    editor.text_input[0].input("frank@").run()
    assert not [b for b in editor.button if b.label in ("Prepare export", "Erase this contact")]

    at = signed_in("admin")
    at.switch_page("app_pages/contact_360.py").run()
    at.text_input[0].input("frank@").run()
    _button(at, "Prepare export").click().run()
    [download] = at.get("download_button")
    assert download.proto.label == "Download export (JSON)"
    exported = at.session_state["export_json"][1]
    assert json.loads(exported)["contact"]["email"] == "frank@corp.example"

    erase = _button(at, "Erase this contact")
    assert erase.disabled  # not confirmed yet
    at.text_input(key=f"erase-confirm-{world.contacts['frank']}").input("frank@corp.example")
    at.run()
    _button(at, "Erase this contact").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any("Erased contact" in s.value for s in at.success)
    engine = make_engine(world.settings.postgres_url or "", pool_size=1, max_overflow=0)
    try:
        with engine.connect() as conn:
            left = conn.execute(
                sa.select(contacts.c.contact_id).where(
                    contacts.c.contact_id == world.contacts["frank"]
                )
            ).first()
    finally:
        engine.dispose()
    assert left is None
