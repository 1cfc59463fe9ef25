"""Regression: checks made at scheduling could be undone before the send (issue: hardening, 6).

The account's postal address removed or the pinned template broken after scheduling must stop the
campaign with the reasons at dispatch, never send non-compliant mail.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from murmur.db.tables import accounts, campaigns, emails, template_versions
from murmur.domain.sending import DispatchError
from sender.store import PgStore
from tests.sender.conftest import MakeCampaign

pytestmark = pytest.mark.integration


def _state(engine: sa.Engine, campaign_id: int) -> tuple[str, str | None, int]:
    with engine.connect() as conn:
        status, reason = conn.execute(
            sa.select(campaigns.c.status, campaigns.c.status_reason).where(
                campaigns.c.campaign_id == campaign_id
            )
        ).one()
        queued = conn.execute(
            sa.select(sa.func.count()).where(emails.c.campaign_id == campaign_id)
        ).scalar_one()
    return status, reason, queued


def test_a_postal_address_removed_after_scheduling_stops_the_campaign_at_dispatch(
    db_engine: sa.Engine, make_campaign: MakeCampaign
) -> None:
    c = make_campaign(n=5, refused_each=0)
    with db_engine.begin() as conn:
        conn.execute(
            accounts.update()
            .where(accounts.c.account_id == c.account_id)
            .values(postal_address="   ")
        )
    with pytest.raises(DispatchError, match="postal_address"):
        PgStore(db_engine).start(c.campaign_id)
    status, reason, queued = _state(db_engine, c.campaign_id)
    assert status == "cancelled"
    assert reason is not None and "postal address" in reason
    assert queued == 0  # no audience frozen, nothing to send


def test_a_pinned_template_version_that_no_longer_renders_stops_the_campaign(
    db_engine: sa.Engine, make_campaign: MakeCampaign
) -> None:
    c = make_campaign(n=5, refused_each=0)
    with db_engine.begin() as conn:
        conn.execute(
            template_versions.update()
            .where(template_versions.c.account_id == c.account_id)
            .values(body_html="<p>{{ broken </p>")
        )
    with pytest.raises(DispatchError):
        PgStore(db_engine).start(c.campaign_id)
    status, reason, queued = _state(db_engine, c.campaign_id)
    assert status == "cancelled" and reason
    assert queued == 0


def test_a_compliant_campaign_still_starts(
    db_engine: sa.Engine, make_campaign: MakeCampaign
) -> None:
    c = make_campaign(n=5, refused_each=1)
    campaign = PgStore(db_engine).start(c.campaign_id)
    assert campaign.campaign_id == c.campaign_id
    status, _, queued = _state(db_engine, c.campaign_id)
    assert status == "sending" and queued == 5
