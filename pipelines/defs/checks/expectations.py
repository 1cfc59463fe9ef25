"""Great Expectations suites as asset checks: contacts (raw_contact_pii) and ingested events."""

import dagster as dg

from murmur.analytics.expectations import CONTACTS_SUITE, EVENTS_SUITE, SuiteResult, run_suite
from pipelines.defs.ingestion.assets import EVENTS_KEY
from pipelines.lib.dbt.translator import replication_key
from pipelines.lib.resources import ClickHouseResource

CONTACTS_KEY = replication_key("raw_contact_pii")


def check_result(result: SuiteResult) -> dg.AssetCheckResult:
    """A failed expectation is an ERROR check (the data is wrong, the run itself went fine)."""
    return dg.AssetCheckResult(
        passed=result.success,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata=result.metadata(),
    )


@dg.asset_check(
    asset=CONTACTS_KEY,
    name="contacts_expectations",
    description="GX suite: every contact address is valid, and none repeats within its account.",
)
def contacts_expectations(clickhouse: ClickHouseResource) -> dg.AssetCheckResult:
    with clickhouse.get_client() as ch:
        return check_result(run_suite(ch, CONTACTS_SUITE))


@dg.asset_check(
    asset=EVENTS_KEY,
    name="events_expectations",
    description="GX suite: event ids present (and send ids when matched), known types, "
    "no timestamp in the future.",
)
def events_expectations(clickhouse: ClickHouseResource) -> dg.AssetCheckResult:
    with clickhouse.get_client() as ch:
        return check_result(run_suite(ch, EVENTS_SUITE))
