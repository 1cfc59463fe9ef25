"""The Great Expectations suites on contacts and events, run on real ClickHouse data."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from clickhouse_connect.driver.client import Client

from murmur.analytics.expectations import CONTACTS_SUITE, EVENTS_SUITE, SuiteResult, run_suite
from murmur.analytics.replication import ensure_tables
from murmur.analytics.tables import CONTACT_PII
from pipelines.defs.checks.expectations import check_result

pytestmark = [pytest.mark.integration, pytest.mark.slow]  # importing GX alone takes seconds

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
A, B = str(uuid.uuid4()), str(uuid.uuid4())


@pytest.fixture
def fresh(ch: Client) -> Iterator[Client]:
    ensure_tables(ch, (CONTACT_PII,))
    ch.command("truncate table raw_contact_pii")
    ch.command("truncate table events")
    yield ch


def _contacts(ch: Client, rows: list[tuple[int, str, str, str]]) -> None:
    now = datetime.now(UTC)
    ch.insert(
        "raw_contact_pii",
        [[cid, uuid.UUID(acc), email, sha, now, now] for cid, acc, email, sha in rows],
        column_names=["contact_id", "account_id", "email", "email_sha256", "updated_at",
                      "_synced_at"],
    )  # fmt: skip


def _by_name(result: SuiteResult) -> dict[str, tuple[int, list[str]]]:
    return {f"{o.expectation}:{o.column}": (o.unexpected, o.sample_ids) for o in result.outcomes}


def test_contacts_suite_finds_bad_addresses_and_duplicates_within_an_account_only(
    fresh: Client,
) -> None:
    _contacts(
        fresh,
        [
            (1, A, "ann@example.com", "h-ann"),
            (2, A, "not-an-address", "h-bad"),
            (3, A, "ann@example.com", "h-ann"),  # the same address again in account A
            (4, B, "ann@example.com", "h-ann"),  # another account may hold it
            (5, B, "bob@example.org", "h-bob"),
            (6, B, "two@@example.org", "h-two"),
        ]
        + [(100 + i, B, f"u{i}@example.net", f"h-u{i}") for i in range(20)],
    )

    # slices of ~4 rows: the duplicate must still be found across slices (sliced by account)
    result = run_suite(fresh, CONTACTS_SUITE, chunk_rows=4)

    assert result.slices > 1
    assert result.rows == 26
    assert not result.success
    outcomes = _by_name(result)
    assert outcomes["expect_column_values_to_match_regex:email"] == (2, ["2", "6"]) or (
        outcomes["expect_column_values_to_match_regex:email"][0] == 2
        and sorted(outcomes["expect_column_values_to_match_regex:email"][1]) == ["2", "6"]
    )
    unexpected, ids = outcomes["expect_compound_columns_to_be_unique:account_id,email_sha256"]
    assert (unexpected, sorted(ids)) == (2, ["1", "3"])
    assert outcomes["expect_column_values_to_not_be_null:email"] == (0, [])
    # the Dagster check names rows by id only: no address in its metadata
    metadata = check_result(result).metadata
    assert not any("example" in str(v.value) for v in metadata.values())


def test_contacts_suite_passes_on_clean_contacts_and_on_an_empty_table(fresh: Client) -> None:
    assert run_suite(fresh, CONTACTS_SUITE).success
    _contacts(fresh, [(1, A, "ann@example.com", "h1"), (2, B, "ann@example.com", "h1")])
    result = run_suite(fresh, CONTACTS_SUITE)
    assert result.success, result.outcomes
    assert result.rows == 2


def _events(ch: Client, rows: list[tuple[str, str, datetime, str | None, int | None]]) -> None:
    ch.insert(
        "events",
        [
            [eid, kind, ts, "sendgrid", False, uuid.UUID(acc) if acc else uuid.UUID(int=0), rec,
             7 if rec else None, 9 if rec else None]
            for eid, kind, ts, acc, rec in rows
        ],
        column_names=["event_id", "type", "timestamp", "provider", "machine_open", "account_id",
                      "email_record_id", "campaign_id", "contact_id"],
    )  # fmt: skip


def test_events_suite_flags_missing_ids_unknown_types_and_future_timestamps(
    fresh: Client,
) -> None:
    past = NOW - timedelta(hours=1)
    _events(
        fresh,
        [
            ("e-ok", "delivery", past, A, 1),
            ("e-unmatched", "open", past, None, None),  # kept, unmatched: no send ids needed
            ("", "open", past, A, 2),  # no event id
            ("e-no-send", "click", past, A, None),  # matched but without its send
            ("e-teleport", "teleport", past, A, 3),
            ("e-future", "open", NOW + timedelta(days=1), A, 4),
            ("e-skew", "open", NOW + timedelta(minutes=1), A, 5),  # within the clock tolerance
        ],
    )

    result = run_suite(fresh, EVENTS_SUITE, chunk_rows=3, now=NOW)

    assert result.rows == 7
    assert not result.success
    outcomes = _by_name(result)
    assert outcomes["expect_column_values_to_not_be_null:event_id"][0] == 1
    assert outcomes["expect_column_values_to_not_be_null:email_record_id"] == (1, ["e-no-send"])
    assert outcomes["expect_column_values_to_be_in_set:type"] == (1, ["e-teleport"])
    assert outcomes["expect_column_values_to_be_between:timestamp"] == (1, ["e-future"])


def test_a_missing_table_fails_the_suite(ch: Client) -> None:
    ch.command("drop table if exists raw_contact_pii")
    result = run_suite(ch, CONTACTS_SUITE)
    assert not result.success
    assert result.outcomes[0].expectation == "table_exists"


def test_an_expectation_gx_cannot_evaluate_fails_with_its_error(fresh: Client) -> None:
    # Regression: a tz-naive timestamp column made the future-timestamp expectation raise
    # inside GX, and the suite then reported 0 unexpected rows for it.
    _events(fresh, [("e-future", "open", NOW + timedelta(days=1), A, 4)])
    result = run_suite(fresh, EVENTS_SUITE, now=NOW)
    outcome = {o.expectation: o for o in result.outcomes}["expect_column_values_to_be_between"]
    assert (outcome.unexpected, outcome.error) == (1, None)
