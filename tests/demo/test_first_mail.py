"""The send step's report of how long the first mail took after the campaign was scheduled."""

import pytest
import sqlalchemy as sa

from murmur.demo.steps import first_mail_delay
from murmur.domain.sending import start_dispatch
from tests.sender.conftest import (  # noqa: F401  (fixtures)
    MakeCampaign,
    db_engine,
    empty_db_url,
    make_account,
    make_campaign,
    migrated_db_url,
)

pytestmark = pytest.mark.integration


def test_the_first_mail_delay_is_its_sent_at_minus_the_scheduled_time(
    db_engine: sa.Engine,  # noqa: F811
    make_campaign: MakeCampaign,  # noqa: F811
) -> None:
    campaign = make_campaign(n=3, refused_each=0)
    with db_engine.begin() as conn:
        start_dispatch(conn, campaign.campaign_id, actor="test", clickhouse=None)
    assert first_mail_delay(db_engine, campaign.campaign_id) is None  # queued, none sent yet
    with db_engine.begin() as conn:
        params = {"c": campaign.campaign_id}
        conn.execute(
            sa.text(
                "update campaigns set scheduled_at = now() - interval '1 minute'"
                " where campaign_id = :c"
            ),
            params,
        )
        first = conn.execute(
            sa.text("select min(email_record_id) from emails where campaign_id = :c"), params
        ).scalar()
        for seconds, which in (("10", ""), ("3.5", "and emails.email_record_id = :first")):
            conn.execute(
                sa.text(
                    "update emails set status = 'sent', sent_at = c.scheduled_at"
                    f" + interval '{seconds} s' from campaigns c"
                    f" where emails.campaign_id = c.campaign_id and c.campaign_id = :c {which}"
                ),
                {**params, "first": first},
            )
    assert first_mail_delay(db_engine, campaign.campaign_id) == pytest.approx(3.5)
