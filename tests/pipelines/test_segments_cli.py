"""`murmur pipelines sync-segments`: registers the shipped SQL segments; skipped models exit 1."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from murmur.db.tables import segments
from murmur.domain.accounts import create_account

pytestmark = [pytest.mark.integration, pytest.mark.slow]
DEMO_ACCOUNT = "Murmuration demo"  # the account the shipped examples name


def _sync(url: str, state: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MURMUR_")}
    return subprocess.run(
        [sys.executable, "-m", "murmur", "pipelines", "sync-segments"],
        env={**env, "MURMUR_POSTGRES_URL": url, "MURMUR_STATE_DIR": str(state)},
        capture_output=True,
        text=True,
        timeout=400,
        check=False,
    )


def test_sync_segments_registers_the_examples_in_the_account_they_name(
    migrated_db_url: str, db_engine: sa.Engine, tmp_path: Path
) -> None:
    missing = _sync(migrated_db_url, tmp_path)
    assert missing.returncode == 1, missing.stdout + missing.stderr
    assert f"config.meta.account '{DEMO_ACCOUNT}' names no account" in missing.stderr

    with db_engine.begin() as conn:
        account_id = create_account(conn, DEMO_ACCOUNT)
    done = _sync(migrated_db_url, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 created" in done.stdout
    with db_engine.connect() as conn:
        rows = conn.execute(
            sa.select(segments.c.dbt_model, segments.c.name, segments.c.kind)
            .where(segments.c.account_id == account_id)
            .order_by(segments.c.dbt_model)
        ).all()
    assert [tuple(r) for r in rows] == [
        ("engaged_last_30_days", "Engaged in the last 30 days", "dbt"),
        ("gmail_subscribers", "Gmail subscribers", "dbt"),
    ]
    assert "2 unchanged" in _sync(migrated_db_url, tmp_path).stdout
