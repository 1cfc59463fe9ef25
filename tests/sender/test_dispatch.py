"""A campaign through the real ledger and the real SMTP sink."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import sqlalchemy as sa

from murmur.db.tables import campaigns
from murmur.domain.sending import counters
from tests.sender.conftest import MakeCampaign, messages_for
from tests.sender.helpers import real_manager

pytestmark = pytest.mark.integration


def _recipients(maildir: Path, domain: str) -> Counter[str]:
    return Counter(str(m["To"]) for m in messages_for(maildir, domain))


def test_a_campaign_reaches_each_allowed_recipient_once_and_no_refused_one(
    db_engine: sa.Engine, make_campaign: MakeCampaign, smtp_url: str, maildir: Path
) -> None:
    c = make_campaign(n=2000, refused_each=10)
    pipe = real_manager(db_engine, smtp_url).run(c.campaign_id)

    received = _recipients(maildir, c.domain)
    assert set(received) == c.allowed
    assert set(received.values()) == {1}
    assert pipe.outcome == "sent"
    with db_engine.connect() as conn:
        counts = counters(conn, c.campaign_id)
        row = conn.execute(
            sa.select(campaigns.c.status, campaigns.c.snapshot_at).where(
                campaigns.c.campaign_id == c.campaign_id
            )
        ).one()
    assert counts["sent"] == 2000 and counts["total"] == 2000
    assert counts["possible_duplicates"] == 0
    assert row.status == "sent" and row.snapshot_at is not None
