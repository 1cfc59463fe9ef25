"""The contact rules called directly, as the CLI and the event consumers will (no API)."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from murmur.db.tables import audit_log, suppressions
from murmur.domain import contacts
from murmur.domain.accounts import create_account
from murmur.domain.audit import redact
from murmur.domain.consent import check_consent_at
from murmur.domain.errors import Conflict, InvalidInput, NotFound
from murmur.domain.gdpr import erase_email
from murmur.domain.suppression import (
    ADDABLE_REASONS,
    REASON_STATUS,
    REASONS,
    status_for_reason,
    suppress,
)


@pytest.fixture
def conn(db_engine: sa.Engine) -> Iterator[sa.Connection]:
    with db_engine.connect() as connection, connection.begin() as txn:
        yield connection
        txn.rollback()


@pytest.fixture
def account(conn: sa.Connection) -> uuid.UUID:
    return create_account(conn, "contact rules")


@pytest.mark.integration
def test_create_normalizes_the_address_takes_the_suppression_status_and_audits_no_values(
    conn: sa.Connection, account: uuid.UUID
) -> None:
    suppress(conn, account, "Bounced@Example.com", "bounce", "esp")
    made = contacts.create_contact(conn, account, "cli:test", {"email": " BOUNCED@example.com "})
    assert (made["email"], made["status"]) == ("bounced@example.com", "bounced")
    with pytest.raises(Conflict) as taken:
        contacts.create_contact(conn, account, "cli:test", {"email": "bounced@example.com"})
    assert taken.value.loc == ["body", "email"]
    with pytest.raises(InvalidInput) as bad:
        contacts.create_contact(conn, account, "cli:test", {"email": "not an address"})
    assert bad.value.field == ("email",)


@pytest.mark.integration
def test_update_refuses_resubscribing_a_suppressed_address_and_suppresses_on_status(
    conn: sa.Connection, account: uuid.UUID
) -> None:
    made = contacts.create_contact(conn, account, "t", {"email": "u@example.com"})
    done = contacts.update_contact(conn, account, "t", made["contact_id"], {"status": "bounced"})
    assert done["status"] == "bounced"
    reason = conn.execute(
        sa.select(suppressions.c.reason).where(
            suppressions.c.account_id == account, suppressions.c.email == "u@example.com"
        )
    ).scalar()
    assert reason == "bounce"
    with pytest.raises(Conflict):
        contacts.update_contact(conn, account, "t", made["contact_id"], {"status": "subscribed"})
    with pytest.raises(InvalidInput):
        contacts.update_contact(conn, account, "t", made["contact_id"], {"email": None})
    with pytest.raises(NotFound):
        contacts.update_contact(conn, account, "t", 10**12, {"first_name": "x"})
    details = conn.execute(
        sa.select(audit_log.c.details).where(
            audit_log.c.account_id == account, audit_log.c.action == "contact.update"
        )
    ).scalar()
    assert details == {"fields": ["status"]}


@pytest.mark.integration
def test_an_erased_address_cannot_be_created_renamed_to_or_suppressed_raw(
    conn: sa.Connection, account: uuid.UUID
) -> None:
    erase_email(conn, account, "gone@example.com", "t")
    other = contacts.create_contact(conn, account, "t", {"email": "other@example.com"})
    with pytest.raises(Conflict):
        contacts.create_contact(conn, account, "t", {"email": "gone@example.com"})
    with pytest.raises(Conflict):
        contacts.update_contact(
            conn, account, "t", other["contact_id"], {"email": "Gone@Example.com"}
        )
    with pytest.raises(Conflict):
        suppress(conn, account, "gone@example.com", "bounce", "esp")


def test_audit_redaction_replaces_every_address_with_its_hash() -> None:
    digest = "sha256:" + hashlib.sha256(b"jo.doe+tag@example.com").hexdigest()
    assert redact({"source": "form <Jo.Doe+tag@Example.com>", "n": 3}) == {
        "source": f"form <{digest}>",
        "n": 3,
    }
    assert redact({"a@example.com": ["x", "b@example.org"]}) == {
        "sha256:" + hashlib.sha256(b"a@example.com").hexdigest(): [
            "x",
            "sha256:" + hashlib.sha256(b"b@example.org").hexdigest(),
        ]
    }
    assert redact("no address @ here") == "no address @ here"


def test_consent_times_more_than_a_day_ahead_are_invalid() -> None:
    now = datetime.now(UTC)
    assert check_consent_at(now + timedelta(hours=23)) is not None
    assert check_consent_at(None) is None
    with pytest.raises(InvalidInput) as late:
        check_consent_at(now + timedelta(days=2), "at")
    assert late.value.field == ("at",)


def test_statuses_and_reasons_are_declared_once() -> None:
    assert set(ADDABLE_REASONS) | {"erasure"} == set(REASONS)
    assert set(REASON_STATUS.values()) <= set(contacts.STATUSES)
    assert [status_for_reason(r) for r in REASONS] == [
        "unsubscribed",
        "bounced",
        "complained",
        "unsubscribed",
        "unsubscribed",
    ]
