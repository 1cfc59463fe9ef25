"""How dbt resources become Dagster assets.

dbt sources are the assets other code produces: `source('postgres', 'raw_x')` is the replication
asset `replication/raw_x`, `source('ingestion', 'events')` the consumer's `ingestion/events`.
Models and seeds keep their name as key; models tagged `daily` go to the partitioned group.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator

SOURCE_PREFIX = {"postgres": "replication", "ingestion": "ingestion"}
DAILY_TAG = "daily"
GROUP = "analytics"
DAILY_GROUP = "analytics_daily"


def replication_key(table: str) -> dg.AssetKey:
    """The asset key of a replicated raw table, as the dbt sources see it."""
    return dg.AssetKey([SOURCE_PREFIX["postgres"], table])


class MurmurDbtTranslator(DagsterDbtTranslator):
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
