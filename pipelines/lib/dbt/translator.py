"""How dbt resources become Dagster assets.

dbt sources are the assets other code produces: `source('postgres', 'raw_x')` is the replication
asset `replication/raw_x`, `source('ingestion', 'events')` the consumer's `ingestion/events`.
Models and seeds keep their name as key; models tagged `daily` go to the partitioned group.
dbt tests are asset checks, those of sources included.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings

SOURCE_PREFIX = {"postgres": "replication", "ingestion": "ingestion"}
DAILY_TAG = "daily"
GROUP = "analytics"
DAILY_GROUP = "analytics_daily"


def replication_key(table: str) -> dg.AssetKey:
    """The asset key of a replicated raw table, as the dbt sources see it."""
    return dg.AssetKey([SOURCE_PREFIX["postgres"], table])


class MurmurDbtTranslator(DagsterDbtTranslator):
    def __init__(self, settings: DagsterDbtTranslatorSettings | None = None) -> None:
        # source tests are asset checks of the replication assets they test (the hourly
        # `analytics_dbt_checks` job runs them)
        super().__init__(
            settings or DagsterDbtTranslatorSettings(enable_source_tests_as_checks=True)
        )

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            prefix = SOURCE_PREFIX.get(dbt_resource_props["source_name"])
            if prefix is not None:
                return dg.AssetKey([prefix, dbt_resource_props["name"]])
        return super().get_asset_key(dbt_resource_props)

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        if DAILY_TAG in dbt_resource_props.get("tags", []):
            return DAILY_GROUP
        return GROUP


def check_keys(manifest: Mapping[str, Any], tests: set[str]) -> list[dg.AssetCheckKey]:
    """The Dagster asset check keys of dbt `tests` (unique ids), as `@dbt_assets` names them."""
    from dagster_dbt.asset_utils import get_asset_check_key_for_test

    translator = MurmurDbtTranslator()
    keys = (get_asset_check_key_for_test(manifest, translator, uid, None) for uid in sorted(tests))
    return [k for k in keys if k is not None]
