"""The load step (`merge`): plain insert of new contacts, update of existing ones, one FK check.

Against the real local Postgres: a race with a concurrent contact insert falls back to the
upsert, an unknown account is refused, and the migration's partial status index serves the
status filter.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import polars as pl
import psycopg
import pytest

from murmur.contacts_import.errors import ImportFailed
from murmur.contacts_import.importer import _temp_table
from murmur.contacts_import.merge import merge
from murmur.contacts_import.rows import custom_fields_json
from tests.murmur.conftest import MakeAccount

pytestmark = pytest.mark.integration


@pytest.fixture
def conn(migrated_db_url: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(migrated_db_url) as c:
        yield c


def _stage(conn: psycopg.Connection[Any], emails: list[str]) -> None:
    _temp_table(conn)
    with (
        conn.cursor() as cur,
        cur.copy("copy import_rows (row, email, first_name) from stdin") as cp,
    ):
        for i, email in enumerate(emails, 2):
            cp.write_row((i, email, f"First{i}"))


def _contacts(conn: psycopg.Connection[Any], account: uuid.UUID) -> dict[str, Any]:
    rows = conn.execute(
        "select email, first_name, status from contacts where account_id = %s", (account,)
    ).fetchall()
    return {email: (first, status) for email, first, status in rows}


def test_new_contacts_are_inserted_and_existing_ones_updated_in_one_load(
    conn: psycopg.Connection[Any], make_account: MakeAccount
) -> None:
    account, _ = make_account()
    with conn.transaction():
        conn.execute(
            "insert into contacts (account_id, email, first_name, status) values"
            " (%s, 'old@example.com', 'Old', 'bounced'), (%s, 'same@example.com', 'First3',"
            " 'subscribed')",
            (account, account),
        )
    with conn.transaction():
        _stage(conn, ["old@example.com", "same@example.com", "new@example.com"])
        inserted, updated = merge(conn, account)
        role = conn.execute("show session_replication_role").fetchone()
    assert (inserted, updated) == (1, 1)  # same@ is unchanged
    assert role == ("origin",)  # the row triggers are on again after the load
    assert _contacts(conn, account) == {
        "old@example.com": ("First2", "bounced"),  # an import never resubscribes
        "same@example.com": ("First3", "subscribed"),
        "new@example.com": ("First4", "subscribed"),
    }


def test_an_unknown_account_is_refused_and_nothing_is_written(
    conn: psycopg.Connection[Any],
) -> None:
    # The per-row foreign-key check is replaced by one check of the account: it must still
    # refuse contacts of an account that does not exist.
    ghost = uuid.uuid4()
    with pytest.raises(ImportFailed, match=f"account {ghost} does not exist"):
        with conn.transaction():
            _stage(conn, ["a@example.com"])
            merge(conn, ghost)
    assert _contacts(conn, ghost) == {}


def test_a_contact_created_while_the_load_runs_falls_back_to_the_upsert(
    conn: psycopg.Connection[Any], make_account: MakeAccount, migrated_db_url: str
) -> None:
    account, _ = make_account()
    other = psycopg.connect(migrated_db_url)
    other.execute(  # uncommitted: the load's plain INSERT waits on it, then conflicts
        "insert into contacts (account_id, email, first_name) values (%s, 'race@example.com',"
        " 'Other')",
        (account,),
    )
    result: dict[str, Any] = {}

    def load() -> None:
        with psycopg.connect(migrated_db_url) as mine, mine.transaction():
            _stage(mine, ["race@example.com", "calm@example.com"])
            result["counts"] = merge(mine, account)

    worker = threading.Thread(target=load)
    worker.start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # until the load waits for the other transaction
        waiting = conn.execute(
            "select count(*) from pg_stat_activity where wait_event_type = 'Lock'"
            " and query like '%%incoming%%'"
        ).fetchone()
        conn.commit()
        if waiting and waiting[0]:
            break
        time.sleep(0.05)
    other.commit()
    other.close()
    worker.join(30)

    assert result["counts"] == (1, 1)  # calm@ inserted; race@ updated by the upsert
    assert _contacts(conn, account) == {
        "race@example.com": ("First2", "subscribed"),
        "calm@example.com": ("First3", "subscribed"),
    }


def test_the_status_filter_has_an_index_that_subscribed_contacts_do_not_enter(
    conn: psycopg.Connection[Any],
) -> None:
    indexes = {
        name: definition
        for name, definition in conn.execute(
            "select indexname, indexdef from pg_indexes where tablename = 'contacts'"
        ).fetchall()
    }
    assert "contacts_account_status_idx" not in indexes
    assert "WHERE (status <> 'subscribed'::text)" in indexes["contacts_account_unsubscribed_idx"]
    conn.execute("set enable_seqscan = off")
    plan = conn.execute(
        "explain select contact_id from contacts where account_id = %s and status = 'bounced'"
        " and contact_id > 0 order by contact_id limit 50",
        (uuid.uuid4(),),
    ).fetchall()
    assert "contacts_account_unsubscribed_idx" in "\n".join(p[0] for p in plan)


def test_a_role_that_may_not_turn_triggers_off_loads_with_the_per_row_checks(
    conn: psycopg.Connection[Any], make_account: MakeAccount, migrated_db_url: str
) -> None:
    account, _ = make_account()
    role = f"importer_{uuid.uuid4().hex[:8]}"
    with conn.transaction():
        conn.execute(f"create role {role} login")
        conn.execute(f"grant select, insert, update on all tables in schema public to {role}")
        conn.execute(f"grant usage on all sequences in schema public to {role}")
    base, database = migrated_db_url.rsplit("/", 1)
    user_url = base.replace("postgres@", f"{role}@", 1) + "/" + database
    assert f"{role}@" in user_url
    try:
        with psycopg.connect(user_url) as mine:
            with mine.transaction():
                _stage(mine, ["plain@example.com"])
                assert merge(mine, account) == (1, 0)
                replica = mine.execute("show session_replication_role").fetchone()
    finally:
        with conn.transaction():
            conn.execute(f"drop owned by {role}")
            conn.execute(f"drop role {role}")
    assert replica == ("origin",)
    assert _contacts(conn, account) == {"plain@example.com": ("First2", "subscribed")}


# Regression: the custom fields' JSON object is now built by polars (rows.custom_fields_json) and
# parsed by the COPY, instead of jsonb_build_object in the load; it must be the same object.
def test_the_custom_fields_json_is_the_object_postgres_built_before(
    conn: psycopg.Connection[Any],
) -> None:
    values = ["pro", None, 'a"b\\c', "line\r\nbreak\ttab", "Zoë ☃ \u2028 \x01", "", "{}"]
    keys = ["plan", 'odd "key"', "empty"]
    columns = [values, list(reversed(values)), [None] * len(values)]
    pairs = list(zip(keys, columns, strict=True))
    series = [(key, pl.Series(col, dtype=pl.String)) for key, col in pairs]
    built = custom_fields_json(series, len(values)).to_list()
    for i, text in enumerate(built):
        args = [v for key, col in pairs for v in (key, col[i])]
        same = conn.execute(
            "select %s::jsonb = jsonb_strip_nulls(jsonb_build_object("
            "%s::text, %s::text, %s::text, %s::text, %s::text, %s::text))",
            (text, *args),
        ).fetchone()
        assert same == (True,), (i, text)
    assert custom_fields_json([], 2).to_list() == ["{}", "{}"]
