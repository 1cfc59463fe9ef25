"""Postgres → ClickHouse replication on the local stack: incremental copies, deletes, erasure."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from clickhouse_connect.driver.client import Client

from murmur.analytics.erasure import PER_CONTACT_TABLES, leftovers
from murmur.analytics.run import replicate_all
from murmur.db.tables import contacts, emails, suppressions
from murmur.domain.gdpr import erase_contact
from murmur.domain.suppression import email_sha256
from murmur.settings import Settings
from tests.murmur.conftest import MakeAccount
from tests.pipelines.history import Events, add_campaign, add_contact, add_send

pytestmark = [pytest.mark.integration, pytest.mark.slow]

T0 = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)


def _final(ch: Client, sql: str) -> list[tuple[object, ...]]:
    return [tuple(r) for r in ch.query(sql).result_rows]


def test_replication_copies_changes_deletes_and_erases(
    analytics_settings: Settings, ch: Client, db_engine: sa.Engine, make_account: MakeAccount
) -> None:
    url = analytics_settings.require("postgres_url")
    account_id, _ = make_account()
    with db_engine.begin() as conn:
        alice = add_contact(conn, account_id, "alice@gmail.com", first_name="Alice")
        bob = add_contact(conn, account_id, "bob@yahoo.com")
        carol = add_contact(conn, account_id, "carol@icloud.com")
        campaign = add_campaign(conn, account_id, "Launch")
        sends = {
            c: add_send(conn, account_id, campaign, c, T0, status="sending")
            for c in (alice, bob, carol)
        }
        conn.execute(
            suppressions.insert().values(
                account_id=account_id, email="bob@yahoo.com", reason="bounce"
            )
        )

    first = replicate_all(url, ch)
    copied = {r.table: r.copied for r in first.tables}
    assert copied["raw_contacts"] == 3
    assert copied["raw_contact_pii"] == 3
    assert copied["raw_emails"] == 3
    assert copied["raw_suppressions"] == 1
    # addresses only in the restricted table; everywhere else the hash and the domain
    assert "email" not in {c[0] for c in _final(ch, "describe table raw_contacts")}
    assert _final(
        ch, f"select email_sha256, email_domain from raw_contacts final where contact_id = {alice}"
    ) == [(email_sha256("alice@gmail.com"), "gmail.com")]
    assert _final(ch, f"select email from raw_contact_pii final where contact_id = {alice}") == [
        ("alice@gmail.com",)
    ]
    assert _final(ch, "select email_sha256, email_domain from raw_suppressions final") == [
        (email_sha256("bob@yahoo.com"), "yahoo.com")
    ]

    # changes: a contact update, ledger rows leaving `sending`, a deleted suppression
    with db_engine.begin() as conn:
        conn.execute(
            contacts.update()
            .where(contacts.c.contact_id == bob)
            .values(status="bounced", updated_at=sa.func.now())
        )
        conn.execute(
            emails.update().where(emails.c.contact_id.in_([alice, bob])).values(status="sent")
        )
        conn.execute(suppressions.delete().where(suppressions.c.account_id == account_id))
    second = replicate_all(url, ch)
    assert second.by_table()["raw_suppressions"].deleted == 1
    assert _final(ch, f"select status from raw_contacts final where contact_id = {bob}") == [
        ("bounced",)
    ]
    assert _final(ch, "select contact_id, status from raw_emails final order by contact_id") == [
        (alice, "sent"),
        (bob, "sent"),
        (carol, "sending"),
    ]
    assert int(ch.command("select count() from raw_suppressions final")) == 0

    # a GDPR erasure of carol, whose events are in `events` already
    events = Events()
    events.add((account_id, campaign, carol, sends[carol]), "delivery", T0)
    events.add((account_id, campaign, alice, sends[alice]), "delivery", T0)
    events.insert(ch)
    with db_engine.begin() as conn:
        erase_contact(conn, account_id, carol, actor="test")
    third = replicate_all(url, ch)
    assert email_sha256("carol@icloud.com") in third.keys.hashes
    assert carol in third.keys.contact_ids
    assert third.erased["events"] == 1
    assert leftovers(ch, third.keys) == []
    for table in ("raw_contacts", "raw_contact_pii", "raw_emails", "events"):
        ids = {r[0] for r in _final(ch, f"select contact_id from {table}")}
        assert carol not in ids and alice in ids, table
    # the ledger row still in `sending` in Postgres is not copied back at the next run
    fourth = replicate_all(url, ch)
    assert fourth.erased == {}
    assert leftovers(ch, fourth.keys) == []
    assert {t for t, _ in PER_CONTACT_TABLES} >= {"raw_contacts", "raw_emails", "events"}
