from __future__ import annotations

from pathlib import Path

import pytest

from murmur.cli import main
from murmur.settings import redact_url


def test_an_unreachable_postgres_names_the_variable_and_hides_the_password(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MURMUR_POSTGRES_URL", "postgresql://app:s3cret@127.0.0.1:1/murmur")
    assert main(["db", "upgrade"]) == 2
    err = capsys.readouterr().err
    assert "cannot connect to Postgres at postgresql://app:***@127.0.0.1:1/murmur" in err
    assert "from MURMUR_POSTGRES_URL" in err
    assert "s3cret" not in err
    assert "Traceback" not in err


def test_a_command_without_url_or_stack_says_how_to_fix_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("MURMUR_POSTGRES_URL", raising=False)
    monkeypatch.setenv("MURMUR_STATE_DIR", str(tmp_path))
    assert main(["account", "create", "Acme"]) == 2
    assert "Run `murmur stack up` or set MURMUR_POSTGRES_URL" in capsys.readouterr().err


def test_redact_url_hides_only_the_password() -> None:
    assert redact_url("https://u:p@ch:8443/x") == "https://u:***@ch:8443/x"
    assert redact_url("smtp://127.0.0.1:25") == "smtp://127.0.0.1:25"


@pytest.mark.integration
def test_an_unknown_migration_revision_is_one_error_line(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MURMUR_POSTGRES_URL", postgres_url)
    assert main(["db", "upgrade", "--revision", "bogus"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("murmur: error: migrations:") and "bogus" in err


def test_stack_logs_of_a_service_never_started_says_so(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MURMUR_STATE_DIR", str(tmp_path))
    assert main(["stack", "logs", "kafka"]) == 1
    assert "no log for kafka yet" in capsys.readouterr().err
