"""`murmur demo seed` on a fresh database: what it creates, that a re-run changes nothing, reset."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher

from murmur.cli import main
from murmur.db.engine import make_engine
from murmur.db.tables import campaigns, contacts, segments, suppressions, templates, users
from murmur.demo.seed import SeedOptions, new_campaign_copy, seed
from murmur.domain.accounts import verify_api_key
from murmur.settings import get_settings
from tests.murmur.conftest import empty_db_url  # noqa: F401  (fixture)

pytestmark = pytest.mark.integration


def _count(engine: sa.Engine, table: sa.Table, account: object) -> int:
    with engine.connect() as conn:
        query = sa.select(sa.func.count()).where(table.c.account_id == account)
        return int(conn.execute(query).scalar_one())


def test_seed_twice_is_the_same_account_and_reset_starts_over(
    empty_db_url: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    settings = get_settings(postgres_url=empty_db_url, state_dir=tmp_path)
    first = seed(settings, SeedOptions(contacts=400, seed=5))
    assert first.created
    counts = first.import_counts
    assert counts["inserted"] == 400 and counts["error_rows"] == 2 and counts["duplicates"] == 2
    assert first.error_sample[0] == "row,column,reason,value" and len(first.error_sample) == 5
    engine = make_engine(empty_db_url, pool_size=1, max_overflow=0)
    try:
        acc = first.account_id
        assert _count(engine, contacts, acc) == 400
        assert _count(engine, suppressions, acc) == first.suppressed == 4
        assert (_count(engine, templates, acc), _count(engine, campaigns, acc)) == (3, 3)
        with engine.connect() as conn:
            kinds = sorted(conn.execute(sa.select(segments.c.kind)).scalars())
            rows = conn.execute(sa.select(users.c.email, users.c.password_hash)).all()
            hashes = {str(e): str(h) for e, h in rows}
            assert verify_api_key(conn, first.api_key) is not None
        assert kinds == ["criteria", "criteria", "criteria", "dbt"]
        for email, _role, password in first.users:
            assert PasswordHasher().verify(hashes[email], password)

        again = seed(settings, SeedOptions(contacts=400, seed=5))
        assert again.account_id == acc and not again.created
        assert again.api_key == first.api_key and again.users == first.users
        assert (again.templates, again.segments, again.campaigns) == (
            first.templates,
            first.segments,
            first.campaigns,
        )
        assert again.import_counts["inserted"] == 0
        assert _count(engine, contacts, acc) == 400 and _count(engine, campaigns, acc) == 3

        copy = new_campaign_copy(settings, acc, first.campaigns["Monthly newsletter"])
        with engine.connect() as conn:
            name = conn.execute(
                sa.select(campaigns.c.name, campaigns.c.status).where(
                    campaigns.c.campaign_id == copy
                )
            ).one()
        assert tuple(name) == ("Monthly newsletter #2", "draft")

        # Regression: a reset deleted from the append-only audit_log (its trigger refused).
        fresh = seed(settings, SeedOptions(contacts=50, seed=5, reset=True))
        assert fresh.created and fresh.account_id != acc
        assert (
            _count(engine, contacts, acc) == 0 and _count(engine, contacts, fresh.account_id) == 50
        )
    finally:
        engine.dispose()


def test_the_seed_command_refuses_a_bad_size(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "seed", "--contacts", "0"]) == 2
    assert "--contacts must be at least 1" in capsys.readouterr().err
