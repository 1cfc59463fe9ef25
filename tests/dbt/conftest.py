"""The analytics fixtures (a migrated app database, a private ClickHouse database) and `dbt`.

`dbt` runs one in-process dbt command on dbt_project/ against the module's ClickHouse database,
with artifacts and logs in the test's temp dir; it fails the test when dbt fails.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from dbt.cli.main import dbtRunner

from murmur.analytics.dbt_profile import write_profiles_dir
from murmur.settings import Settings
from tests.pipelines.conftest import (  # noqa: F401  (fixtures)
    analytics_settings,
    ch,
    db_engine,
    empty_db_url,
    make_account,
    migrated_db_url,
)

PROJECT = Path(__file__).resolve().parents[2] / "dbt_project"
# the columns tests write straight into the raw tables the models read (events, raw_emails)
EVENT_COLUMNS = [
    "event_id", "type", "timestamp", "provider", "email_record_id", "account_id", "campaign_id",
    "contact_id", "recipient_domain", "bounce_type", "machine_open", "ingested_at",
]  # fmt: skip
LEDGER_COLUMNS = [
    "email_record_id", "account_id", "campaign_id", "contact_id", "status", "esp",
    "esp_message_id", "has_error", "queued_at", "sent_at", "_synced_at",
]  # fmt: skip
Dbt = Callable[..., None]


@pytest.fixture
def dbt(analytics_settings: Settings, tmp_path: Path) -> Dbt:  # noqa: F811
    """`dbt(command, *args)`: one dbt command on the project, asserted successful."""
    profiles = write_profiles_dir(analytics_settings)

    def run(command: str, *args: str) -> None:
        result = dbtRunner().invoke(
            [
                command,
                *args,
                "--project-dir", str(PROJECT),
                "--profiles-dir", str(profiles),
                "--target-path", str(tmp_path / "target"),
                "--log-path", str(tmp_path / "logs"),
                "--no-send-anonymous-usage-stats",
                "--no-use-colors",
            ]
        )  # fmt: skip
        assert result.success, f"dbt {command} {' '.join(args)} failed: {result.exception}"

    return run
