from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from murmur.db.tables import campaigns, contacts, emails, erasures
from murmur.domain.accounts import create_account
from murmur.domain.campaigns import IllegalTransition, transition
from murmur.domain.consent import record_consent, withdraw_consent
from murmur.domain.gdpr import erase_contact, export_contact
from murmur.domain.suppression import can_send, suppress, suppressed_emails

pytestmark = pytest.mark.integration


def _contact(conn: sa.Connection, account_id: uuid.UUID, email: str) -> int:
    return conn.execute(
        contacts.insert()
        .values(account_id=account_id, email=email)
        .returning(contacts.c.contact_id)
    ).scalar_one()


@pytest.fixture
def conn(db_engine: sa.Engine) -> sa.Connection:
    with db_engine.begin() as connection:
        yield connection  # type: ignore[misc]


@pytest.fixture
def account(conn: sa.Connection) -> uuid.UUID:
    return create_account(conn, "domain tests")


@pytest.mark.parametrize(
    ("reason", "status"),
    [
        ("unsubscribe", "unsubscribed"),
        ("bounce", "bounced"),
        ("complaint", "complained"),
        ("manual", "unsubscribed"),
    ],
)
def test_suppressing_sets_the_contact_status_and_blocks_sending(
    conn: sa.Connection, account: uuid.UUID, reason: str, status: str
) -> None:
    contact_id = _contact(conn, account, "who@example.com")
    assert can_send(conn, account, contact_id) == (True, "ok")
    suppress(conn, account, "Who@Example.com", reason, "test")
    got = conn.execute(sa.select(contacts.c.status).where(contacts.c.contact_id == contact_id))
    assert got.scalar() == status
    ok, why = can_send(conn, account, "who@example.com")
    assert not ok
    assert reason in why or status in why


def test_a_manual_suppression_keeps_a_more_telling_bounced_status(
    conn: sa.Connection, account: uuid.UUID
) -> None:
    contact_id = _contact(conn, account, "hard@example.com")
    suppress(conn, account, "hard@example.com", "bounce", "esp")
    suppress(conn, account, "hard@example.com", "manual", "support desk")
    got = conn.execute(sa.select(contacts.c.status).where(contacts.c.contact_id == contact_id))
    assert got.scalar() == "bounced"


def test_can_send_refuses_unknown_invalid_and_other_accounts_contacts(
    conn: sa.Connection, account: uuid.UUID
) -> None:
    other = create_account(conn, "other")
    contact_id = _contact(conn, other, "theirs@example.com")
    assert can_send(conn, account, contact_id) == (False, "no such contact")
    assert can_send(conn, account, "theirs@example.com") == (False, "no such contact")
    assert can_send(conn, account, "not an email")[0] is False


def test_bulk_suppression_check_covers_erased_addresses(
    conn: sa.Connection, account: uuid.UUID
) -> None:
    suppress(conn, account, "a@example.com", "manual")
    contact_id = _contact(conn, account, "b@example.com")
    erase_contact(conn, account, contact_id, "test")
    got = suppressed_emails(conn, account, ["a@example.com", "b@example.com", "c@example.com"])
    assert got == {"a@example.com", "b@example.com"}


def test_consent_is_recorded_on_the_contact_and_withdrawal_unsubscribes(
    conn: sa.Connection, account: uuid.UUID
) -> None:
    contact_id = _contact(conn, account, "c@example.com")
    assert record_consent(conn, account, contact_id, "checkout", actor="test")
    assert not record_consent(conn, account, 10**12, "checkout")
    assert withdraw_consent(conn, account, contact_id, "footer link")
    assert can_send(conn, account, contact_id) == (False, "contact status is unsubscribed")
    actions = [a["action"] for a in export_contact(conn, account, contact_id)["audit"]]  # type: ignore[index]
    assert actions == ["consent.granted", "consent.withdrawn"]


def test_erasure_keeps_ledger_rows_without_personal_data(
    conn: sa.Connection, account: uuid.UUID
) -> None:
    contact_id = _contact(conn, account, "gone@example.com")
    campaign_id = conn.execute(
        campaigns.insert()
        .values(account_id=account, name="c", subject="s")
        .returning(campaigns.c.campaign_id)
    ).scalar_one()
    conn.execute(
        emails.insert().values(
            account_id=account,
            campaign_id=campaign_id,
            contact_id=contact_id,
            status="failed",
            error="550 gone@example.com: no such user",
        )
    )
    first = erase_contact(conn, account, contact_id, "test")
    assert first is not None
    assert erase_contact(conn, account, contact_id, "test") == first
    assert erase_contact(conn, account, 10**12, "test") is None
    ledger = conn.execute(sa.select(emails).where(emails.c.contact_id == contact_id)).one()
    assert ledger.error == "[erased]"
    tomb = conn.execute(sa.select(erasures).where(erasures.c.account_id == account)).one()
    assert tomb.email_sha256 == first["email_sha256"]
    assert export_contact(conn, account, contact_id) is None


def test_campaign_transitions_are_enforced_and_audited(
    conn: sa.Connection, account: uuid.UUID
) -> None:
    campaign_id = conn.execute(
        campaigns.insert()
        .values(account_id=account, name="c", subject="s")
        .returning(campaigns.c.campaign_id)
    ).scalar_one()
    for target in ("scheduled", "sending", "sent"):
        row = transition(conn, account, campaign_id, target)
        assert row is not None and row["status"] == target
    with pytest.raises(IllegalTransition):
        transition(conn, account, campaign_id, "cancelled")
    assert transition(conn, create_account(conn, "x"), campaign_id, "cancelled") is None
