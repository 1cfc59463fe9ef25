"""Exit codes and messages of every command group: 2 = usage/configuration, 1 = failure."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from murmur.cli import main
from murmur.settings import redact_url

ACCOUNT = "00000000-0000-0000-0000-000000000001"
URL_VARS = ("POSTGRES_URL", "CLICKHOUSE_URL", "KAFKA_BOOTSTRAP_SERVERS", "SMTP_URL")


@pytest.fixture
def no_services(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No service URL set and an empty state dir: no local stack either."""
    for var in URL_VARS:
        monkeypatch.delenv(f"MURMUR_{var}", raising=False)
    monkeypatch.setenv("MURMUR_STATE_DIR", str(tmp_path))
    return tmp_path


def _usage_exit(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """Run `murmur argv`, expect argparse's usage error (exit 2); return stderr."""
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    return capsys.readouterr().err


def _murmur(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "murmur", *args],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_python_dash_m_murmur_and_murmur_cli_both_run_the_cli() -> None:
    for argv in (["-m", "murmur", "--help"], ["-m", "murmur.cli", "--help"]):
        done = subprocess.run(
            [sys.executable, *argv], capture_output=True, text=True, timeout=120, check=False
        )
        assert done.returncode == 0, done.stderr
        assert "stack" in done.stdout and "contacts" in done.stdout


# --- db -------------------------------------------------------------------------------------


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


def test_a_malformed_setting_is_exit_2_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MURMUR_POSTGRES_URL", "mysql://db:3306/x")
    assert main(["db", "current"]) == 2
    assert "MURMUR_POSTGRES_URL" in capsys.readouterr().err


@pytest.mark.integration
def test_an_unknown_migration_revision_is_one_error_line(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MURMUR_POSTGRES_URL", postgres_url)
    assert main(["db", "upgrade", "--revision", "bogus"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("murmur: error: migrations:") and "bogus" in err


def test_redact_url_hides_only_the_password() -> None:
    assert redact_url("https://u:p@ch:8443/x") == "https://u:***@ch:8443/x"
    assert redact_url("smtp://127.0.0.1:25") == "smtp://127.0.0.1:25"


# --- account / apikey -------------------------------------------------------------------------


def test_a_command_without_url_or_stack_says_how_to_fix_it(
    no_services: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["account", "create", "Acme"]) == 2
    assert "Run `murmur stack up` or set MURMUR_POSTGRES_URL" in capsys.readouterr().err


def test_an_account_name_over_the_api_limit_is_refused_naming_the_limit(
    no_services: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Regression: the CLI created accounts whose names the API's PATCH /account refuses.
    from pydantic import TypeAdapter, ValidationError

    from murmur.api.types import Name

    too_long = "A" * 201
    with pytest.raises(ValidationError):  # the API's own rule refuses it
        TypeAdapter(Name).validate_python(too_long)
    assert main(["account", "create", too_long]) == 2
    err = capsys.readouterr().err
    assert "NAME: String should have at most 200 characters (201 given)" in err
    assert main(["account", "create", ""]) == 2
    assert "NAME: String should have at least 1 character" in capsys.readouterr().err


def test_a_bad_sender_address_is_a_usage_error(
    no_services: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Regression: it raised SystemExit with a message, i.e. exit code 1 and no `murmur:` prefix
    # handling in main().
    assert main(["account", "create", "Acme", "--from-email", "not an address"]) == 2
    assert capsys.readouterr().err.startswith("murmur: error: --from-email:")


def test_apikey_create_with_a_bad_uuid_or_role_is_exit_2(
    no_services: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["apikey", "create", "--account", "not-a-uuid", "--role", "viewer"]) == 2
    assert "--account: not a uuid" in capsys.readouterr().err
    assert "invalid choice" in _usage_exit(
        ["apikey", "create", "--account", "x", "--role", "owner"], capsys
    )


# --- api --------------------------------------------------------------------------------------


@pytest.mark.parametrize("port", ["99999", "0", "-1", "http"])
def test_api_serve_refuses_a_port_outside_1_to_65535(port: str) -> None:
    # Regression: `--port 99999` was passed to uvicorn, which listened on another port.
    env = {"MURMUR_POSTGRES_URL": "postgresql://x@127.0.0.1:1/d"}
    done = _murmur("api", "serve", "--port", port, env=env)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "--port" in done.stderr
    assert "Murmuration API on" not in done.stdout


def test_a_bad_api_port_setting_is_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MURMUR_API_PORT", "99999")
    assert main(["api", "serve"]) == 2
    assert "MURMUR_API_PORT" in capsys.readouterr().err


# --- contacts ---------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["0", "-5", "nan", "inf", "lots"])
def test_contacts_import_refuses_a_max_mb_that_is_not_positive(
    value: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Regression: `--max-mb 0` and negative sizes were accepted.
    path = tmp_path / "c.csv"
    path.write_text("email\nann@example.com\n")
    argv = ["contacts", "import", str(path), "--account", ACCOUNT, "--max-mb", value]
    err = _usage_exit(argv, capsys)
    assert "--max-mb" in err


def test_contacts_import_of_a_missing_file_is_exit_2(
    no_services: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MURMUR_POSTGRES_URL", "postgresql://u@127.0.0.1:1/x")
    missing = str(no_services / "nope.csv")
    assert main(["contacts", "import", missing, "--account", ACCOUNT]) == 2
    assert "nope.csv: no such file" in capsys.readouterr().err


# --- stack ------------------------------------------------------------------------------------


def test_stack_logs_of_a_service_never_started_says_so(
    no_services: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["stack", "logs", "kafka"]) == 1
    assert "no log for kafka yet" in capsys.readouterr().err


def test_stack_env_with_the_stack_down_says_so_and_exits_1(
    no_services: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Regression: it printed only `export MURMUR_STATE_DIR=...` and exited 0.
    assert main(["stack", "env"]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert "is not running: nothing to export" in err and "murmur stack up" in err


def test_stack_up_of_an_unknown_service_is_exit_2(
    no_services: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["stack", "up", "redis"]) == 2
    assert "unknown service(s) ['redis']" in capsys.readouterr().err


@pytest.mark.parametrize("value", ["abc", "0", "99999"])
def test_a_bad_stack_port_variable_is_exit_2_naming_it(
    value: str,
    no_services: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("MURMUR_STACK_SMTP_PORT", value)
    assert main(["stack", "up", "smtp"]) == 2
    assert "MURMUR_STACK_SMTP_PORT" in capsys.readouterr().err
    assert not list(no_services.glob("run/*.pid"))


def test_a_taken_configured_stack_port_is_exit_2_naming_the_port(
    no_services: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        monkeypatch.setenv("MURMUR_STACK_SMTP_PORT", str(port))
        assert main(["stack", "up", "smtp"]) == 2
    err = capsys.readouterr().err
    assert f"configured port {port} is taken" in err and "MURMUR_STACK_SMTP_PORT" in err


@pytest.mark.integration  # starts the SMTP sink
def test_a_service_that_fails_to_start_is_exit_1(
    no_services: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from murmur.stack.services import SmtpSink

    def broken_setup(self: SmtpSink) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(SmtpSink, "after_start", broken_setup)
    assert main(["stack", "up", "smtp"]) == 1
    assert "setup failed (RuntimeError: disk on fire)" in capsys.readouterr().err
