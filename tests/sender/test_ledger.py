"""The audience snapshot and the ledger queries on real Postgres."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from murmur.db.tables import campaigns, contacts, emails
from murmur.domain.sending import DispatchError, counters, snapshot, start_dispatch
from murmur.domain.suppression import suppress
from sender.store import PgStore
from tests.sender.conftest import MakeCampaign

pytestmark = pytest.mark.integration


def test_the_snapshot_freezes_the_allowed_audience_once_and_never_duplicates(
    db_engine: sa.Engine, make_campaign: MakeCampaign
) -> None:
    c = make_campaign(n=40, refused_each=3)
    with db_engine.begin() as conn:
        row = start_dispatch(conn, c.campaign_id)
        assert row["status"] == "sending" and row["snapshot_at"] is not None
        again = snapshot(conn, c.account_id, row)
        start_dispatch(conn, c.campaign_id)  # a second worker: nothing changes
        addresses = set(
            conn.execute(
                sa.select(contacts.c.email)
                .join(emails, emails.c.contact_id == contacts.c.contact_id)
                .where(emails.c.campaign_id == c.campaign_id)
            ).scalars()
        )
        assert again == 0
        assert counters(conn, c.campaign_id)["queued"] == 40
    assert addresses == c.allowed


def test_a_contact_suppressed_after_the_snapshot_is_skipped_not_sent(
    db_engine: sa.Engine, make_campaign: MakeCampaign
) -> None:
    c = make_campaign(n=10, refused_each=0)
    store = PgStore(db_engine)
    campaign = store.start(c.campaign_id)
    with db_engine.begin() as conn:
        suppress(conn, c.account_id, f"c3@r-{c.domain}", "unsubscribe")
    claimed = store.claim(campaign, 0, 1, 100, 60)
    assert len(claimed) == 9
    assert f"c3@r-{c.domain}" not in {r.email for r in claimed}
    with db_engine.connect() as conn:
        counts = counters(conn, c.campaign_id)
    assert counts["skipped"] == 1 and counts["sending"] == 9


def test_claims_of_two_stores_never_overlap_and_shards_split_the_ledger(
    db_engine: sa.Engine, make_campaign: MakeCampaign
) -> None:
    c = make_campaign(n=30, refused_each=0)
    one, two = PgStore(db_engine), PgStore(db_engine)
    campaign = one.start(c.campaign_id)
    a = {r.email_record_id for r in one.claim(campaign, 0, 2, 100, 60)}
    b = {r.email_record_id for r in two.claim(campaign, 1, 2, 100, 60)}
    assert a and b and not a & b and len(a | b) == 30
    assert all(i % 2 == 0 for i in a) and all(i % 2 == 1 for i in b)
    assert one.claim(campaign, 0, 2, 100, 60) == []  # leases still live: nothing to reclaim


def test_only_scheduled_or_sending_campaigns_dispatch(
    db_engine: sa.Engine, make_campaign: MakeCampaign
) -> None:
    c = make_campaign(n=1, refused_each=0)
    with db_engine.begin() as conn:
        conn.execute(
            campaigns.update()
            .where(campaigns.c.campaign_id == c.campaign_id)
            .values(status="draft")
        )
    with db_engine.begin() as conn, pytest.raises(DispatchError, match="is draft"):
        start_dispatch(conn, c.campaign_id)
    with db_engine.begin() as conn, pytest.raises(DispatchError, match="not found"):
        start_dispatch(conn, 10**12)


def test_extending_a_lease_pushes_it_out_for_the_claimed_rows_only(
    db_engine: sa.Engine, make_campaign: MakeCampaign
) -> None:
    c = make_campaign(n=4, refused_each=0)
    store = PgStore(db_engine)
    campaign = store.start(c.campaign_id)
    claimed = [r.email_record_id for r in store.claim(campaign, 0, 1, 2, 60)]
    store.extend_lease(c.campaign_id, claimed, 3600)
    with db_engine.connect() as conn:
        rows = conn.execute(
            sa.select(
                emails.c.email_record_id,
                emails.c.status,
                emails.c.lease_until > sa.func.now() + sa.text("interval '30 minutes'"),
            ).where(emails.c.campaign_id == c.campaign_id)
        ).all()
    assert {r[0] for r in rows if r[2]} == set(claimed)
    assert all(r[1] == "queued" and r[2] is None for r in rows if r[0] not in claimed)


def _plan_nodes(plan: dict[str, object]) -> list[dict[str, object]]:
    children = plan.get("Plans", [])
    assert isinstance(children, list)
    return [plan, *(node for child in children for node in _plan_nodes(child))]


def test_a_claim_reads_about_one_batch_not_every_open_row(
    db_engine: sa.Engine, make_campaign: MakeCampaign
) -> None:
    # Regression: the claim sorted every open row of the campaign to take a batch (10,000 rows
    # read and sorted per claim of 500), quadratic over a large campaign.
    from sender.queries import query

    c = make_campaign(n=300, refused_each=0)
    PgStore(db_engine).start(c.campaign_id)
    params = {"campaign_id": c.campaign_id, "shard": 0, "shards": 1, "batch_size": 20}
    with db_engine.begin() as conn:
        plan = conn.execute(
            sa.text("explain (analyze, format json) " + query("ledger", "claim-batch")),
            {**params, "lease_seconds": 60},
        ).scalar_one()[0]["Plan"]
        conn.rollback()
    nodes = _plan_nodes(plan)
    assert not [n for n in nodes if n["Node Type"] == "Sort"]
    scans = [n for n in nodes if "Scan" in str(n["Node Type"]) and n.get("Relation Name")]
    assert scans and all(float(str(n["Actual Rows"])) <= 40 for n in scans), scans
