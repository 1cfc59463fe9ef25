from __future__ import annotations

import dagster as dg

from pipelines.lib.resources import ClickHouseResource, PostgresResource

# Bound by parameter name; each reads the settings when a run uses it.
defs = dg.Definitions(
    resources={"clickhouse": ClickHouseResource(), "postgres": PostgresResource()}
)
