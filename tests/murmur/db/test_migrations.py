from __future__ import annotations

import psycopg
import pytest
import sqlalchemy as sa

from murmur.db.engine import make_engine, sqlalchemy_url
from murmur.db.migrate import current, downgrade, upgrade
from murmur.db.tables import metadata

pytestmark = pytest.mark.integration

ALL_TABLES = {
    "accounts",
    "users",
    "api_keys",
    "contacts",
    "suppressions",
    "segments",
    "templates",
    "template_versions",
    "campaigns",
    "emails",
    "audit_log",
    "erasures",
}


def _tables(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "select tablename from pg_tables where schemaname = 'public'"
            " and tablename not like 'emails_p%'"
        ).fetchall()
    return {r[0] for r in rows} - {"alembic_version"}


def test_migrations_go_up_to_head_and_back_down_on_an_empty_database(empty_db_url: str) -> None:
    assert current(empty_db_url) is None
    upgrade(empty_db_url, "0001")
    assert current(empty_db_url) == "0001"
    assert _tables(empty_db_url) == ALL_TABLES
    upgrade(empty_db_url)
    assert _tables(empty_db_url) >= ALL_TABLES
    downgrade(empty_db_url, "0001")
    assert _tables(empty_db_url) == ALL_TABLES
    downgrade(empty_db_url, "base")
    assert _tables(empty_db_url) == set()
    assert current(empty_db_url) is None
    upgrade(empty_db_url)
    assert _tables(empty_db_url) >= ALL_TABLES


# Regression: import_jobs and import_errors were migrated but missing from the mirror, and the
# test only checked mirror → database (issue 7, item 2).
def test_the_core_tables_mirror_every_migrated_table_and_column(migrated_db_url: str) -> None:
    mirrored = {t.name for t in metadata.sorted_tables}
    migrated = _tables(migrated_db_url)
    assert migrated - mirrored == set(), "migrated tables missing from murmur/db/tables.py"
    assert mirrored - migrated == set(), "tables in murmur/db/tables.py that no migration creates"
    engine = make_engine(migrated_db_url)
    try:
        inspector = sa.inspect(engine)
        for name in sorted(migrated):
            in_db = {c["name"] for c in inspector.get_columns(name)}
            in_mirror = {c.name for c in metadata.tables[name].columns}
            assert in_db - in_mirror == set(), f"{name}: migrated columns missing from the mirror"
            assert in_mirror - in_db == set(), f"{name}: mirror columns no migration creates"
    finally:
        engine.dispose()


def test_the_send_ledger_is_hash_partitioned_by_campaign_into_16_partitions(
    migrated_db_url: str,
) -> None:
    with psycopg.connect(migrated_db_url) as conn:
        strategy = conn.execute(
            "select partstrat from pg_partitioned_table where partrelid = 'emails'::regclass"
        ).fetchone()
        count = conn.execute(
            "select count(*) from pg_inherits where inhparent = 'emails'::regclass"
        ).fetchone()
    assert strategy == ("h",)
    assert count == (16,)


def test_the_audit_log_rejects_updates_and_deletes(migrated_db_url: str) -> None:
    with psycopg.connect(migrated_db_url, autocommit=True) as conn:
        conn.execute(
            "insert into audit_log (account_id, actor, action)"
            " values (gen_random_uuid(), 'test', 'test.action')"
        )
        for statement in ("update audit_log set actor = 'x'", "delete from audit_log"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("truncate audit_log")


def test_contacts_reject_an_unknown_status_and_a_duplicate_email(migrated_db_url: str) -> None:
    with psycopg.connect(migrated_db_url, autocommit=True) as conn:
        account = conn.execute("insert into accounts (name) values ('a') returning account_id")
        account_id = account.fetchone()[0]  # type: ignore[index]
        insert = "insert into contacts (account_id, email, status) values (%s, %s, %s)"
        conn.execute(insert, (account_id, "a@example.com", "subscribed"))
        with pytest.raises(psycopg.errors.UniqueViolation):
            conn.execute(insert, (account_id, "a@example.com", "subscribed"))
        with pytest.raises(psycopg.errors.CheckViolation):
            conn.execute(insert, (account_id, "b@example.com", "maybe"))


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://u@h:5432/d", "postgresql+psycopg://u@h:5432/d"),
        ("postgres://u@h/d", "postgresql+psycopg://u@h/d"),
        ("postgresql+psycopg2://u:p%40@h/d", "postgresql+psycopg://u:p%40@h/d"),
    ],
)
def test_engine_urls_always_use_the_psycopg3_driver(url: str, expected: str) -> None:
    assert sqlalchemy_url(url) == expected
