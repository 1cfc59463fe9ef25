"""The enrichment step (one ledger query per batch) against the real Postgres ledger."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from ingestion.consumer.strategies.enrich import Enricher
from tests.ingestion.conftest import MakeLedger
from tests.ingestion.consumer.helpers import event, row

pytestmark = pytest.mark.integration


def test_a_batch_takes_each_ledger_rows_ids_and_keeps_what_matches_nothing(
    db_engine: sa.Engine, make_ledger: MakeLedger
) -> None:
    ledgers = [make_ledger() for _ in range(3)]
    by_record = [
        row(event(f"r{i}-{n}", email_record_id=ledger.email_record_id, esp="mine"))
        for i, ledger in enumerate(ledgers)
        for n in range(2)
    ]
    by_message = row(event("m", provider_message_id=ledgers[0].esp_message_id))
    # ids no ledger row has, the largest Int64 among them: kept, unmatched
    strangers = [
        row(event("big", email_record_id=2**63 - 1)),
        row(event("zero", email_record_id=0)),
        row(event("unknown", provider_message_id="nobody-knows")),
    ]
    enriched = Enricher(db_engine).enrich([*by_record, by_message, *strangers])
    assert enriched.unmatched == len(strangers)
    for i, ledger in enumerate(ledgers):
        for got in by_record[2 * i : 2 * i + 2]:
            assert (got["account_id"], got["campaign_id"], got["contact_id"]) == (
                ledger.account_id,
                ledger.campaign_id,
                ledger.contact_id,
            )
            assert got["esp"] == "sendgrid"  # the ledger's, over what the event said
    assert by_message["email_record_id"] == ledgers[0].email_record_id
    assert by_message["account_id"] == ledgers[0].account_id
    assert [s["account_id"] for s in strangers] == [None, None, None]
    assert [s["email_record_id"] for s in strangers] == [2**63 - 1, 0, None]
