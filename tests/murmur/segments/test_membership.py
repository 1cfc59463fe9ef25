"""The membership writer on a real ClickHouse: current set, SCD2 history, erasure."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator

import pytest
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import DatabaseError

from murmur.analytics.erasure import ErasedKeys, apply_erasures, leftovers
from murmur.analytics.segments import (
    HISTORY_TABLE,
    MEMBERSHIP_TABLE,
    STAGE_PREFIX,
    MembershipError,
    MembershipResult,
    members_at,
    segment_stats,
    write_membership,
)
from murmur.analytics.side_by_side import Statement, run_both, writes_side_by_side
from murmur.clickhouse import get_client
from murmur.settings import Settings

pytestmark = pytest.mark.integration

T1 = dt.datetime(2026, 3, 1, 9, tzinfo=dt.UTC)
T2 = dt.datetime(2026, 3, 2, 9, tzinfo=dt.UTC)
T3 = dt.datetime(2026, 3, 3, 9, tzinfo=dt.UTC)
IDS = "select arrayJoin({ids:Array(Int64)}) as contact_id"


@pytest.fixture(scope="module")
def sessionless(ch_settings: Settings, ch: Client) -> Iterator[Client]:
    """A client without a session on the same database: the writer runs statements together."""
    client = get_client(ch_settings, autogenerate_session_id=False)
    assert writes_side_by_side(client) and not writes_side_by_side(ch)
    yield client
    client.close()


@pytest.fixture(params=["session", "sessionless"])
def writer(request: pytest.FixtureRequest, ch: Client) -> Client:
    """Each writer test runs with a session (one statement at a time) and without one."""
    if request.param == "session":
        return ch
    client: Client = request.getfixturevalue("sessionless")
    return client


def _write(
    ch: Client, account: uuid.UUID, segment: int, ids: list[int], at: dt.datetime
) -> MembershipResult:
    return write_membership(
        ch,
        account_id=account,
        segment_id=segment,
        select_sql=IDS,
        parameters={"ids": ids},
        computed_at=at,
    )


def _all(ch: Client, account: uuid.UUID, segment: int, at: dt.datetime | None) -> list[int]:
    found: list[int] = []
    after: int | None = None
    while page := members_at(ch, account, segment, at=at, after_contact_id=after, limit=2):
        found.extend(page)
        after = page[-1]
    return found


def test_point_in_time_membership_follows_contacts_in_and_out_across_three_refreshes(
    ch: Client, writer: Client
) -> None:
    account = uuid.uuid4()
    first = _write(writer, account, 101, [1, 2, 3, 3], T1)
    second = _write(writer, account, 101, [2, 3, 4], T2)
    third = _write(writer, account, 101, [1, 4], T3)

    assert (first.size, first.added, first.removed) == (3, 3, 0)
    assert (second.size, second.added, second.removed) == (3, 1, 1)
    assert (third.size, third.added, third.removed) == (2, 1, 2)
    assert _all(ch, account, 101, None) == [1, 4]
    assert _all(ch, account, 101, T1 - dt.timedelta(seconds=1)) == []
    assert _all(ch, account, 101, T1) == [1, 2, 3]
    assert _all(ch, account, 101, T1 + dt.timedelta(hours=12)) == [1, 2, 3]
    assert _all(ch, account, 101, T2) == [2, 3, 4]
    assert _all(ch, account, 101, T3 + dt.timedelta(days=30)) == [1, 4]
    # contact 1 has two stays: in at T1, out at T2, back at T3
    stays = ch.query(
        f"select valid_from, valid_to from {HISTORY_TABLE} final"
        " where account_id = {a:UUID} and contact_id = 1 order by valid_from",
        parameters={"a": account},
    ).result_rows
    assert [(f.day, t.day if t.year < 2299 else None) for f, t in stays] == [(1, 2), (3, None)]
    assert segment_stats(ch, account, 101).size == 2
    assert segment_stats(ch, account, 101).computed_at == T3


def test_an_empty_result_empties_the_segment_and_closes_every_stay(
    ch: Client, writer: Client
) -> None:
    account = uuid.uuid4()
    _write(writer, account, 102, [5, 6], T1)
    result = _write(writer, account, 102, [], T2)
    assert (result.size, result.removed) == (0, 2)
    assert _all(ch, account, 102, None) == []
    assert _all(ch, account, 102, T1) == [5, 6]
    assert _all(ch, account, 102, T2) == []
    stats = segment_stats(ch, account, 102)
    assert (stats.size, stats.computed_at) == (0, T2)
    # every stage table was dropped before the writer returned
    assert ch.query(
        "select count() from system.tables where database = currentDatabase()"
        " and startsWith(name, {p:String})",
        parameters={"p": STAGE_PREFIX},
    ).result_rows == [(0,)]


def test_segments_and_accounts_do_not_see_each_others_members(ch: Client) -> None:
    account, other = uuid.uuid4(), uuid.uuid4()
    _write(ch, account, 103, [7, 8], T1)
    _write(ch, account, 104, [9], T1)
    _write(ch, account, 103, [8], T2)  # rewriting 103 leaves 104 alone
    assert _all(ch, account, 103, None) == [8]
    assert _all(ch, account, 104, None) == [9]
    assert _all(ch, other, 103, None) == []
    assert segment_stats(ch, other, 103).computed_at is None


def test_reserved_parameter_names_and_bad_segment_ids_are_refused(ch: Client) -> None:
    with pytest.raises(MembershipError, match="reserved"):
        write_membership(
            ch,
            account_id=uuid.uuid4(),
            segment_id=1,
            select_sql=IDS,
            parameters={"ids": [1], "seg_at": 1},
            computed_at=T1,
        )
    with pytest.raises(MembershipError, match="positive integer"):
        _write(ch, uuid.uuid4(), 0, [1], T1)


def test_an_erased_contact_leaves_membership_and_history_at_the_next_erasure_run(
    ch: Client,
) -> None:
    account = uuid.uuid4()
    _write(ch, account, 105, [901, 902], T1)
    _write(ch, account, 105, [902], T2)  # 901 is only in the history now
    _write(ch, account, 106, [901, 903], T2)
    keys = ErasedKeys(hashes=["0" * 64], contact_ids=[901])

    deleted = apply_erasures(ch, keys)

    assert deleted[MEMBERSHIP_TABLE] == 1
    assert deleted[HISTORY_TABLE] >= 2
    assert _all(ch, account, 105, T1) == [902]
    assert _all(ch, account, 106, None) == [903]
    assert [t for t, _, _ in leftovers(ch, keys) if t.startswith("segment")] == []


def test_side_by_side_statements_both_finish_before_an_error_is_raised(
    ch: Client, sessionless: Client
) -> None:
    table = f"side_by_side_{uuid.uuid4().hex[:8]}"
    create = Statement(
        f"create table {table} engine = MergeTree order by x"
        " as select number as x from numbers(200000)",
        {},
    )
    fails = Statement("select throwIf(1, 'side-by-side failure')", {})
    with pytest.raises(DatabaseError, match="side-by-side failure"):
        run_both(sessionless, True, fails, create)
    # the other statement was not abandoned half-way: it finished before the error came back
    assert ch.query(f"select count() from {table}").result_rows == [(200000,)]
    with pytest.raises(DatabaseError, match="side-by-side failure"):
        run_both(sessionless, True, Statement(f"drop table {table}", {}), fails)
    assert not ch.command(f"exists table {table}")
