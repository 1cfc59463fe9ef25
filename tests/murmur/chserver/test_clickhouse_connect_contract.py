"""clickhouse-connect, unchanged, against the server behind `ch_url`."""

from __future__ import annotations

import datetime as dt
import http.client
import uuid
from collections.abc import Callable
from urllib.parse import urlencode, urlsplit

import pandas as pd
import pyarrow as pa
import pytest
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import DatabaseError

pytestmark = pytest.mark.integration

EVENTS_DDL = """
CREATE TABLE {db}.events (
    event_id UUID,
    account_id UInt32,
    kind LowCardinality(String),
    email Nullable(String),
    tags Array(String),
    occurred_at DateTime64(3, 'UTC')
) ENGINE = MergeTree ORDER BY (account_id, event_id)
"""


def _events(n: int, start: int = 0) -> list[list[object]]:
    base = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    return [
        [
            uuid.UUID(int=i + 1),
            i % 3,
            ["open", "click", "bounce"][i % 3],
            None if i % 5 == 0 else f"u{i}@example.com",
            ["a", "b"][: i % 3],
            base + dt.timedelta(seconds=i),
        ]
        for i in range(start, start + n)
    ]


COLUMNS = ["event_id", "account_id", "kind", "email", "tags", "occurred_at"]


def test_client_connects_and_reports_version_and_timezone(client: Client) -> None:
    assert client.server_version
    assert client.server_tz is not None
    assert client.ping()
    assert client.command("SELECT 1") == 1


def test_native_query_returns_typed_rows(client: Client) -> None:
    result = client.query("SELECT number AS n, toString(number) AS s FROM numbers(5)")
    assert result.column_names == ("n", "s")
    assert result.result_rows == [(i, str(i)) for i in range(5)]


def test_empty_and_limit_zero_results_keep_their_columns(client: Client) -> None:
    empty = client.query("SELECT number AS n FROM numbers(5) WHERE n > 100")
    assert empty.result_rows == []
    probe = client.query("SELECT toUInt8(1) AS a, 'x' AS b LIMIT 0")
    assert probe.column_names == ("a", "b")
    assert [t.name for t in probe.column_types] == ["UInt8", "String"]


def test_server_and_client_side_parameters_bind(client: Client) -> None:
    server_side = client.query(
        "SELECT {n:UInt32} + 1 AS x, {s:String} AS s", parameters={"n": 41, "s": "it's"}
    )
    assert server_side.result_rows == [(42, "it's")]
    client_side = client.query("SELECT %(n)s + 1, %(s)s", parameters={"n": 1, "s": "o'k"})
    assert client_side.result_rows == [(2, "o'k")]


def test_per_query_settings_apply_and_do_not_leak(client: Client) -> None:
    get = "SELECT getSetting('max_threads')"
    default = client.command(get)
    assert client.command(get, settings={"max_threads": 3}) == 3
    assert client.command(get) == default
    assert client.query(get, settings={"max_threads": 2}).result_rows == [(2,)]
    assert client.command(get) == default


def test_query_arrow_arrow_stream_and_df(client: Client) -> None:
    sql = "SELECT number AS n, toString(number) AS s FROM numbers(10000)"
    table = client.query_arrow(sql)
    assert table.num_rows == 10000
    assert table.column_names == ["n", "s"]
    with client.query_arrow_stream(sql) as stream:
        rows = sum(batch.num_rows for batch in stream)
    assert rows == 10000
    df = client.query_df(sql)
    assert isinstance(df, pd.DataFrame)
    assert len(df) == 10000
    assert int(df["n"].sum()) == sum(range(10000))


def test_insert_roundtrips_rows(client: Client, database: str) -> None:
    client.command(EVENTS_DDL.format(db=database))
    summary = client.insert(f"{database}.events", _events(100), column_names=COLUMNS)
    assert summary.written_rows == 100
    rows = client.query(
        f"SELECT account_id, kind, email, tags, occurred_at FROM {database}.events "
        "ORDER BY event_id LIMIT 2"
    ).result_rows
    assert rows[0][0:4] == (0, "open", None, [])
    assert rows[1][0:4] == (1, "click", "u1@example.com", ["a"])
    assert rows[1][4].replace(tzinfo=None) == dt.datetime(2026, 1, 1, 0, 0, 1)


def test_insert_df_and_insert_arrow(client: Client, database: str) -> None:
    client.command(f"CREATE TABLE {database}.t (a UInt32, s String) ENGINE MergeTree ORDER BY a")
    client.insert_df(f"{database}.t", pd.DataFrame({"a": [1, 2, 3], "s": ["x", "y", "z"]}))
    arrow = pa.table({"a": pa.array([4, 5], pa.uint32()), "s": ["u", "v"]})
    summary = client.insert_arrow(f"{database}.t", arrow)
    assert summary.written_rows == 2
    assert client.command(f"SELECT count() FROM {database}.t") == 5
    assert client.command(f"SELECT sum(a) FROM {database}.t") == 15


def test_raw_csv_insert(client: Client, database: str) -> None:
    client.command(f"CREATE TABLE {database}.t (a UInt32, s String) ENGINE MergeTree ORDER BY a")
    client.raw_insert(f"{database}.t", ["a", "s"], "1,one\n2,two\n", fmt="CSV")
    client.raw_insert(f"{database}.t", None, b"3,three\n", fmt="CSV")
    assert client.query(f"SELECT a, s FROM {database}.t ORDER BY a").result_rows == [
        (1, "one"),
        (2, "two"),
        (3, "three"),
    ]


def test_session_keeps_temporary_tables_and_set(make_client: Callable[..., Client]) -> None:
    session = make_client(session_id=f"s-{uuid.uuid4()}")
    session.command("CREATE TEMPORARY TABLE tmp (a UInt8)")
    session.command("INSERT INTO tmp VALUES (1), (2)")
    session.command("SET max_threads = 3")
    assert session.command("SELECT count() FROM tmp") == 2
    assert session.command("SELECT getSetting('max_threads')") == 3
    other = make_client(session_id=f"s-{uuid.uuid4()}")
    assert other.command("SELECT getSetting('max_threads')") != 3
    with pytest.raises(DatabaseError):
        other.command("SELECT count() FROM tmp")


def test_request_settings_override_session_set_only_for_that_request(
    make_client: Callable[..., Client],
) -> None:
    session = make_client(session_id=f"s-{uuid.uuid4()}")
    session.command("SET max_threads = 3")
    get = "SELECT getSetting('max_threads')"
    assert session.command(get, settings={"max_threads": 1}) == 1
    assert session.command(get) == 3


def test_sessionless_temporary_table_does_not_outlive_its_request(
    make_client: Callable[..., Client],
) -> None:
    c = make_client(autogenerate_session_id=False)
    c.command("CREATE TEMPORARY TABLE gone (a UInt8)")
    with pytest.raises(DatabaseError):
        c.command("SELECT count() FROM gone")


def test_errors_carry_code_and_name(client: Client) -> None:
    with pytest.raises(DatabaseError) as unknown_table:
        client.query("SELECT * FROM no_such_db.no_such_table")
    assert unknown_table.value.code in (60, 81)
    assert unknown_table.value.name in ("UNKNOWN_TABLE", "UNKNOWN_DATABASE")
    with pytest.raises(DatabaseError) as syntax:
        client.command("SELEC 1")
    assert syntax.value.code == 62
    assert syntax.value.name == "SYNTAX_ERROR"
    with pytest.raises(DatabaseError) as unknown_setting:
        client.command("SELECT 1", settings={"no_such_setting_xyz": 1})
    assert unknown_setting.value.code == 115
    assert client.command("SELECT 1") == 1


def test_command_returns_values_and_summaries(client: Client, database: str) -> None:
    assert client.command("SELECT 1, 'a'") == ["1", "a"]
    assert client.command("SELECT 1 WHERE 0") == ""
    summary = client.command(f"CREATE TABLE {database}.c (a UInt8) ENGINE Memory")
    assert hasattr(summary, "summary")
    inserted = client.command(f"INSERT INTO {database}.c SELECT number FROM numbers(7)")
    assert inserted.written_rows == 7


@pytest.mark.parametrize("compress", [False, True, "lz4", "zstd", "gzip"])
def test_every_compression_mode_roundtrips(
    make_client: Callable[..., Client], database: str, compress: bool | str
) -> None:
    c = make_client(compress=compress)
    c.command(EVENTS_DDL.format(db=database))
    for start in range(0, 3000, 1000):
        c.insert(f"{database}.events", _events(1000, start), column_names=COLUMNS)
    assert c.command(f"SELECT count() FROM {database}.events") == 3000
    big = c.query(f"SELECT * FROM {database}.events ORDER BY event_id")
    assert len(big.result_rows) == 3000
    assert c.query_arrow(f"SELECT event_id FROM {database}.events").num_rows == 3000
    assert c.query_df(f"SELECT kind FROM {database}.events")["kind"].nunique() == 3


def test_form_encoded_query_parameters(make_client: Callable[..., Client]) -> None:
    c = make_client(form_encode_query_params=True)
    assert c.query("SELECT {s:String} AS s", parameters={"s": "x" * 5000}).result_rows == [
        ("x" * 5000,)
    ]


def test_multi_statements_are_rejected(client: Client) -> None:
    with pytest.raises(DatabaseError) as err:
        client.command("SELECT 1; SELECT 2")
    assert err.value.code == 62


def test_session_check_requires_an_existing_session(make_client: Callable[..., Client]) -> None:
    c = make_client(session_id=f"s-{uuid.uuid4()}")
    with pytest.raises(DatabaseError) as err:
        c.command(
            "SELECT 1", settings={"session_id": f"missing-{uuid.uuid4()}", "session_check": 1}
        )
    assert err.value.code == 372


# Regression: a failed SET used to drop the tracking of the previous request's setting, so it
# leaked into the next request on the same session.
def test_a_failed_request_setting_does_not_leak_the_previous_one(
    make_client: Callable[..., Client],
) -> None:
    get = "SELECT getSetting('max_threads')"
    default = make_client(session_id=f"s-{uuid.uuid4()}").command(get)
    session = make_client(session_id=f"s-{uuid.uuid4()}")
    assert session.command(get, settings={"max_threads": default + 1}) == default + 1
    with pytest.raises(DatabaseError):
        session.command(get, settings={"max_threads": "abc"})
    assert session.command(get) == default


def test_a_malformed_content_length_is_a_client_error(ch_url: str) -> None:
    parts = urlsplit(ch_url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 8123, timeout=10)
    try:
        conn.putrequest("POST", "/?query=SELECT%201")
        conn.putheader("Content-Length", "abc")
        conn.endheaders()
        status = conn.getresponse().status
    finally:
        conn.close()
    assert 400 <= status < 500


def test_several_request_settings_are_applied_and_restored_together(
    make_client: Callable[..., Client],
) -> None:
    # the server sends all of a request's setting changes to the engine as one SET
    get = "SELECT getSetting('max_threads'), getSetting('max_block_size')"
    session = make_client(session_id=f"s-{uuid.uuid4()}")
    default = session.command(get)
    assert session.command(get, settings={"max_threads": 1, "max_block_size": 100}) == ["1", "100"]
    # one new value and one restore in the same request
    assert session.command(get, settings={"max_threads": 1}) == ["1", default[1]]
    with pytest.raises(DatabaseError):  # nothing of a failing request's SET is applied
        session.command(get, settings={"max_block_size": 7, "max_threads": "abc"})
    assert session.command(get) == default


def test_insert_settings_apply_to_that_insert_only(
    make_client: Callable[..., Client], database: str
) -> None:
    # a data insert's request settings travel in its own SETTINGS clause, not on the session
    session = make_client(session_id=f"s-{uuid.uuid4()}")
    session.command(
        f"CREATE TABLE {database}.d (a UInt32) ENGINE MergeTree ORDER BY a"
        " SETTINGS non_replicated_deduplication_window = 100"
    )
    for rows in (b"1\n", b"2\n", b"3\n"):  # the same token: the later inserts are dropped
        session.raw_insert(
            f"{database}.d", ["a"], rows, fmt="CSV", settings={"insert_deduplication_token": "t1"}
        )
    assert session.command(f"SELECT count() FROM {database}.d") == 1
    assert session.command("SELECT getSetting('insert_deduplication_token')") == ""
    session.raw_insert(f"{database}.d", ["a"], b"4\n", fmt="CSV")  # no token: stored
    assert session.command(f"SELECT count() FROM {database}.d") == 2


def test_insert_head_with_comment_or_settings_clause_keeps_request_settings(
    ch_url: str, database: str
) -> None:
    def post(sql: str, data: bytes, **params: str) -> int:
        parts = urlsplit(ch_url)
        conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 8123)
        try:
            query = urlencode({"query": sql, **params})
            conn.request("POST", f"/?{query}", body=data)
            resp = conn.getresponse()
            resp.read()
            return resp.status
        finally:
            conn.close()

    table = f"{database}.h"
    assert (
        post(
            f"CREATE TABLE {table} (a UInt32) ENGINE MergeTree ORDER BY a"
            " SETTINGS non_replicated_deduplication_window = 100",
            b"",
        )
        == 200
    )
    token = {"insert_deduplication_token": "same"}
    # the head ends in a line comment: the token must not be commented out
    for value in (b"1\n", b"2\n"):
        assert post(f"INSERT INTO {table} -- note\nFORMAT CSV", value, **token) == 200
    # the head has its own SETTINGS clause: the request's token is set on the connection
    for value in (b"3\n", b"4\n"):
        sql = f"INSERT INTO {table} SETTINGS optimize_on_insert = 0 FORMAT CSV"
        assert post(sql, value, insert_deduplication_token="other") == 200
    assert clickhouse_count(ch_url, table) == 2


def clickhouse_count(url: str, table: str) -> int:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 8123)
    try:
        conn.request("POST", "/", body=f"SELECT count() FROM {table}".encode())
        return int(conn.getresponse().read())
    finally:
        conn.close()
