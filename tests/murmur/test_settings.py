from __future__ import annotations

from pathlib import Path

import pytest

from murmur.settings import SettingsError, get_settings


def test_settings_read_murmur_variables_when_built(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MURMUR_CLICKHOUSE_URL", "http://ch.example:8123")
    monkeypatch.setenv("MURMUR_KAFKA_BOOTSTRAP_SERVERS", "k1:9092,k2:9092")
    settings = get_settings()
    assert settings.clickhouse_url == "http://ch.example:8123"
    assert settings.kafka_bootstrap_servers == "k1:9092,k2:9092"


def test_a_bad_url_names_the_variable_and_the_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MURMUR_POSTGRES_URL", "mysql://db:3306/x")
    with pytest.raises(SettingsError, match=r"MURMUR_POSTGRES_URL.*mysql://db:3306/x"):
        get_settings()


def test_a_bad_bootstrap_list_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MURMUR_KAFKA_BOOTSTRAP_SERVERS", "localhost")
    with pytest.raises(SettingsError, match="MURMUR_KAFKA_BOOTSTRAP_SERVERS"):
        get_settings()


def test_require_without_url_or_stack_says_what_was_tried(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("MURMUR_SMTP_URL", raising=False)
    settings = get_settings(state_dir=tmp_path)
    with pytest.raises(SettingsError, match=r"MURMUR_SMTP_URL is not set.*stack\.json"):
        settings.require("smtp_url")


def test_unset_urls_come_from_the_running_stack_file(tmp_path: Path) -> None:
    (tmp_path / "stack.json").write_text('{"urls": {"smtp_url": "smtp://127.0.0.1:2525"}}')
    settings = get_settings(state_dir=tmp_path)
    assert settings.require("smtp_url") == "smtp://127.0.0.1:2525"


def test_stack_ports_are_read_through_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    from murmur.stack.manager import configured_ports

    monkeypatch.setenv("MURMUR_STACK_POSTGRES_PORT", "5432")
    monkeypatch.setenv("MURMUR_STACK_SMTP_PORT", "")  # blank = unset
    settings = get_settings()
    assert (settings.stack_postgres_port, settings.stack_smtp_port) == (5432, None)
    assert configured_ports(settings) == {"postgres": 5432}
    assert configured_ports(get_settings(stack_kafka_port=9092))["kafka"] == 9092


@pytest.mark.parametrize("value", ["abc", "0", "65536", "-1"])
def test_a_bad_stack_port_names_the_variable(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("MURMUR_STACK_KAFKA_PORT", value)
    with pytest.raises(SettingsError, match="MURMUR_STACK_KAFKA_PORT"):
        get_settings()


def test_a_bad_api_port_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MURMUR_API_PORT", "99999")
    with pytest.raises(SettingsError, match=r"MURMUR_API_PORT.*65535"):
        get_settings()
