"""The `service_roundtrip` asset runs only the service checks and records each as metadata."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa

from murmur.db.engine import make_engine
from murmur.db.migrate import upgrade
from pipelines.defs.common.assets import service_roundtrip

pytestmark = pytest.mark.integration

PRESET = {k for k in os.environ if k.startswith("MURMUR_")}
PRODUCT_TABLES = ("accounts", "api_keys", "contacts", "campaigns", "templates", "segments")


@pytest.fixture
def stack_env(
    monkeypatch: pytest.MonkeyPatch,
    stack_dir: Path,
    postgres_url: str,
    clickhouse_url: str,
    kafka_bootstrap: str,
    smtp_url: str,
) -> str:
    """Settings as `dagster dev` after `eval "$(murmur stack env)"` minus the URLs: the asset
    finds the services through the state dir, the case where the old asset ran the walkthrough
    (URLs preset in the environment, to run against real services, are kept)."""
    monkeypatch.setenv("MURMUR_STATE_DIR", str(stack_dir))
    for var in ("POSTGRES_URL", "CLICKHOUSE_URL", "KAFKA_BOOTSTRAP_SERVERS", "SMTP_URL"):
        if f"MURMUR_{var}" not in PRESET:
            monkeypatch.delenv(f"MURMUR_{var}", raising=False)
    return postgres_url


def _counts(url: str) -> dict[str, int]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return {
                t: int(conn.execute(sa.text(f"select count(*) from {t}")).scalar_one())
                for t in PRODUCT_TABLES
            }
    finally:
        engine.dispose()


def test_materializing_runs_the_checks_and_creates_no_product_data(stack_env: str) -> None:
    # Regression: the asset ran `murmur demo`'s whole job, whose walkthrough created a demo
    # account, an API key, 5000 contacts and a scheduled campaign on every materialization.
    upgrade(stack_env)
    before = _counts(stack_env)
    result = dg.materialize([service_roundtrip])
    assert result.success
    assert _counts(stack_env) == before
    metadata = result.asset_materializations_for_node("service_roundtrip")[0].metadata
    for name in ("postgres", "kafka", "clickhouse", "smtp"):
        assert metadata[f"{name}_ok"].value is True
        assert isinstance(metadata[f"{name}_seconds"].value, float)
        assert metadata[f"{name}_detail"].value
    assert "produced and consumed 1 message" in str(metadata["kafka_detail"].value)


def test_a_failing_check_fails_the_materialization_naming_it(
    stack_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MURMUR_CLICKHOUSE_URL", "http://127.0.0.1:1")
    result = dg.materialize([service_roundtrip], raise_on_error=False)
    assert not result.success
    failure = result.failure_data_for_node("service_roundtrip")
    assert failure is not None
    assert "round trip failed: clickhouse" in str(failure.error)
