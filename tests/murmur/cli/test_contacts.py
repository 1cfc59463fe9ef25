"""`murmur contacts ...` against a migrated database: checks before importing, exit codes."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from murmur.cli import main
from tests.murmur.conftest import MakeAccount

pytestmark = pytest.mark.integration


def _counts(engine: sa.Engine, account: uuid.UUID) -> tuple[int, int]:
    with engine.connect() as conn:
        contacts = conn.execute(
            sa.text("select count(*) from contacts where account_id = :a"), {"a": account}
        ).scalar_one()
        jobs = conn.execute(
            sa.text("select count(*) from import_jobs where account_id = :a"), {"a": account}
        ).scalar_one()
    return int(contacts), int(jobs)


@pytest.fixture
def csv_file(tmp_path: Path) -> Path:
    path = tmp_path / "contacts.csv"
    path.write_text("email,first_name\nann@example.com,Ann\nbad,Bob\n")
    return path


def test_an_errors_path_in_a_missing_directory_is_refused_before_importing(
    make_account: MakeAccount,
    migrated_db_url: str,
    db_engine: sa.Engine,
    csv_file: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Regression: the import committed, then writing the report raised FileNotFoundError with a
    # traceback.
    account, _ = make_account(role="editor")
    monkeypatch.setenv("MURMUR_POSTGRES_URL", migrated_db_url)
    report = tmp_path / "no" / "such" / "dir" / "errors.csv"
    argv = ["contacts", "import", str(csv_file), "--account", str(account)]
    assert main([*argv, "--errors", str(report)]) == 2
    err = capsys.readouterr().err
    assert f"--errors {report}: directory {report.parent} does not exist" in err
    assert "Traceback" not in err
    assert _counts(db_engine, account) == (0, 0)
    assert main([*argv, "--errors", str(tmp_path)]) == 2  # a directory is not a file
    assert "is a directory" in capsys.readouterr().err
    assert _counts(db_engine, account) == (0, 0)
    assert main([*argv, "--errors", str(tmp_path / "errors.csv")]) == 0
    assert _counts(db_engine, account) == (1, 1)
    assert (tmp_path / "errors.csv").read_text().splitlines()[1].startswith("3,email,")


def test_an_unknown_account_or_import_is_a_failure_not_a_usage_error(
    migrated_db_url: str,
    make_account: MakeAccount,
    csv_file: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("MURMUR_POSTGRES_URL", migrated_db_url)
    nobody = str(uuid.uuid4())
    assert main(["contacts", "import", str(csv_file), "--account", nobody]) == 1
    assert f"no account {nobody}" in capsys.readouterr().err
    account, _ = make_account(role="editor")
    assert main(["contacts", "import-errors", nobody, "--account", str(account)]) == 1
    assert "in this account" in capsys.readouterr().err


def test_a_refused_file_is_exit_2_and_imports_nothing(
    make_account: MakeAccount,
    migrated_db_url: str,
    db_engine: sa.Engine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    account, _ = make_account(role="editor")
    monkeypatch.setenv("MURMUR_POSTGRES_URL", migrated_db_url)
    path = tmp_path / "header-only.csv"
    path.write_text("email,first_name\n")
    assert main(["contacts", "import", str(path), "--account", str(account)]) == 2
    assert "refused" in capsys.readouterr().err
    big = tmp_path / "big.csv"
    big.write_text("email\n" + "".join(f"r{i}@example.com\n" for i in range(60_000)))
    argv = ["contacts", "import", str(big), "--account", str(account), "--max-mb", "0.5"]
    assert main(argv) == 2
    assert "refused" in capsys.readouterr().err
    assert _counts(db_engine, account) == (0, 0)
