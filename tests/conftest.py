"""Shared fixtures: the real local stack in a temp state dir on free ports.

Each service fixture starts only its own service, once per session, so a test run that needs only
Postgres never waits for the broker. A `MURMUR_<SERVICE>_URL` already set in the environment wins:
the same tests then run against real services.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from murmur.stack.manager import Stack

_ENV_FOR = {
    "postgres": "MURMUR_POSTGRES_URL",
    "clickhouse": "MURMUR_CLICKHOUSE_URL",
    "kafka": "MURMUR_KAFKA_BOOTSTRAP_SERVERS",
    "smtp": "MURMUR_SMTP_URL",
}


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests with no marker are unit tests (before `-m` deselects, so `-m unit` finds them)."""
    for item in items:
        if not any(item.get_closest_marker(m) for m in ("integration", "e2e", "unit")):
            item.add_marker(pytest.mark.unit)


@pytest.fixture(scope="session")
def stack_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("murmur-state")


@pytest.fixture(scope="session")
def local_stack(stack_dir: Path) -> Iterator[Stack]:
    """The session's local stack (services start on first use); torn down at the end."""
    stack = Stack(stack_dir)
    yield stack
    stack.down()


def _service_url(stack: Stack, name: str, field: str) -> str:
    preset = os.environ.get(_ENV_FOR[name])
    if preset:
        return preset
    Stack(stack.state_dir, [name]).up()
    return stack.service(name).urls()[field]


@pytest.fixture(scope="session")
def postgres_url(local_stack: Stack) -> str:
    """URL of the app database (`murmur`) on the session's Postgres."""
    return _service_url(local_stack, "postgres", "postgres_url")


@pytest.fixture(scope="session")
def dagster_postgres_url(local_stack: Stack, postgres_url: str) -> str:
    return _service_url(local_stack, "postgres", "dagster_postgres_url")


@pytest.fixture(scope="session")
def clickhouse_url(local_stack: Stack) -> str:
    return _service_url(local_stack, "clickhouse", "clickhouse_url")


@pytest.fixture(scope="session")
def kafka_bootstrap(local_stack: Stack) -> str:
    return _service_url(local_stack, "kafka", "kafka_bootstrap_servers")


@pytest.fixture(scope="session")
def smtp_url(local_stack: Stack) -> str:
    return _service_url(local_stack, "smtp", "smtp_url")


@pytest.fixture
def murmur_env(
    monkeypatch: pytest.MonkeyPatch, stack_dir: Path, postgres_url: str
) -> dict[str, str]:
    """MURMUR_* variables for code under test that builds its own settings (Postgres only)."""
    env = {"MURMUR_STATE_DIR": str(stack_dir), "MURMUR_POSTGRES_URL": postgres_url}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env
