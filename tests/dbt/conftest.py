"""The analytics fixtures (a migrated app database, a private ClickHouse database)."""

from tests.pipelines.conftest import (  # noqa: F401  (fixtures)
    analytics_settings,
    ch,
    db_engine,
    empty_db_url,
    make_account,
    migrated_db_url,
)
