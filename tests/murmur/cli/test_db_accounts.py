from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from murmur.cli import main
from murmur.db.engine import make_engine
from murmur.db.migrate import current

pytestmark = pytest.mark.integration


def test_the_cli_migrates_bootstraps_an_account_and_manages_keys(
    empty_db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MURMUR_POSTGRES_URL", empty_db_url)
    assert main(["db", "upgrade", "--revision", "0001"]) == 0
    assert current(empty_db_url) == "0001"
    assert main(["db", "upgrade"]) == 0
    capsys.readouterr()
    args = ["account", "create", "Acme", "--postal-address", "1 Road", "--from-email", "A@X.io"]
    assert main([*args, "--json"]) == 0
    created = json.loads(capsys.readouterr().out)
    assert created["api_key"].startswith(f"mm_{created['prefix']}_")
    assert (
        main(["apikey", "create", "--account", created["account_id"], "--role", "viewer", "--json"])
        == 0
    )
    key = json.loads(capsys.readouterr().out)
    assert main(["apikey", "revoke", key["api_key"]]) == 0
    assert main(["apikey", "revoke", "nosuchprefix"]) == 1
    assert main(["apikey", "create", "--account", "not-a-uuid", "--role", "viewer"]) == 2
    unknown = "00000000-0000-0000-0000-00000000abcd"
    assert main(["apikey", "create", "--account", unknown, "--role", "viewer"]) == 1
    assert f"account {unknown} not found" in capsys.readouterr().err
    engine = make_engine(empty_db_url)
    with engine.connect() as conn:
        from_email = conn.execute(sa.text("select default_from_email from accounts")).scalar()
        revoked = conn.execute(
            sa.text("select revoked_at is not null from api_keys where prefix = :p"),
            {"p": key["prefix"]},
        ).scalar()
    engine.dispose()
    assert (from_email, revoked) == ("a@x.io", True)
    assert main(["db", "downgrade", "base"]) == 0
    assert current(empty_db_url) is None
