"""Replication of the Postgres source of truth into ClickHouse raw tables (one asset per table)."""

from collections.abc import Iterator
from typing import Any

import dagster as dg

from murmur.analytics.erasure import leftovers
from murmur.analytics.replication import TableResult
from murmur.analytics.run import replicate_all
from murmur.analytics.tables import SPECS
from pipelines.lib.dbt.translator import replication_key
from pipelines.lib.resources import ClickHouseResource, PostgresResource

GROUP = "replication"
ERASURE_CHECK = "no_erased_contact_left"
_DESCRIPTIONS = {
    "raw_accounts": "Accounts (name, plan, default sending domain).",
    "raw_contacts": "Contacts with a hashed address and its domain (no address, no names).",
    "raw_contact_pii": "Restricted: contact addresses, names and consent IPs (erasure target).",
    "raw_campaigns": "Campaigns with their sending domain.",
    "raw_segments": "Segment definitions.",
    "raw_templates": "Template names, subjects and versions (no bodies).",
    "raw_emails": "The send ledger, one row per (campaign, contact), without error texts.",
    "raw_suppressions": "Suppressed addresses, hashed.",
}


def _metadata(result: TableResult) -> dict[str, Any]:
    mark = result.watermark
    return {
        "rows_copied": result.copied,
        "rows_deleted": result.deleted,
        "watermark_at": mark.at.isoformat() if mark.at else None,
        "watermark_id": mark.id,
        "clickhouse_table": result.table,
    }


@dg.multi_asset(
    name="postgres_replication",
    group_name=GROUP,
    specs=[
        dg.AssetSpec(
            replication_key(spec.table),
            description=_DESCRIPTIONS[spec.table],
            kinds={"postgres", "clickhouse"},
        )
        for spec in SPECS
    ],
    check_specs=[
        dg.AssetCheckSpec(
            ERASURE_CHECK,
            asset=replication_key("raw_contacts"),
            description="No erased contact (hash or id) is left in any ClickHouse table.",
        )
    ],
)
def postgres_replication(
    context: dg.AssetExecutionContext, clickhouse: ClickHouseResource, postgres: PostgresResource
) -> Iterator[dg.MaterializeResult[Any] | dg.AssetCheckResult]:
    """Copy Postgres changes (updates, deletes, GDPR erasures) into the ClickHouse raw tables."""
    url = postgres.database_url()
    with clickhouse.get_client() as ch:

        def progress(result: TableResult) -> None:
            context.log.info(
                f"{result.table}: {result.copied} rows copied, {result.deleted} deleted"
            )

        run = replicate_all(url, ch, progress=progress)
        left = leftovers(ch, run.keys)
    for result in run.tables:
        yield dg.MaterializeResult(
            asset_key=replication_key(result.table), metadata=_metadata(result)
        )
    yield dg.AssetCheckResult(
        check_name=ERASURE_CHECK,
        asset_key=replication_key("raw_contacts"),
        passed=not left,
        metadata={
            "erased_contacts": len(run.keys.hashes),
            "rows_erased_this_run": sum(run.erased.values()),
            "tables_still_holding_erased_contacts": [f"{t}.{c}: {n}" for t, c, n in left],
        },
    )
