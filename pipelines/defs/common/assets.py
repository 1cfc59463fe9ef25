import dagster as dg

from murmur.checks import CheckResult, run_checks
from murmur.settings import get_settings


def _metadata(results: list[CheckResult]) -> dict[str, dg.MetadataValue]:
    """Per check: `<name>_ok`, `<name>_seconds`, `<name>_detail`."""
    metadata: dict[str, dg.MetadataValue] = {}
    for r in results:
        metadata[f"{r.name}_ok"] = dg.MetadataValue.bool(r.ok)
        metadata[f"{r.name}_seconds"] = dg.MetadataValue.float(round(r.seconds, 3))
        metadata[f"{r.name}_detail"] = dg.MetadataValue.text(r.detail)
    return metadata


@dg.asset(group_name="platform", kinds={"python"})
def service_roundtrip(context: dg.AssetExecutionContext) -> dg.MaterializeResult[None]:
    """A round trip through Postgres, Kafka, ClickHouse and SMTP: proves the platform's wiring.

    It runs only the service checks (`murmur.checks`): it never creates accounts, API keys,
    contacts or campaigns.
    """
    results = run_checks(get_settings())
    for r in results:
        log = context.log.info if r.ok else context.log.error
        log(f"{r.name}: {'ok' if r.ok else 'FAILED'} in {r.seconds:.2f}s: {r.detail}")
    metadata = _metadata(results)
    failed = [r.name for r in results if not r.ok]
    if failed:
        raise dg.Failure(description=f"round trip failed: {', '.join(failed)}", metadata=metadata)
    return dg.MaterializeResult(metadata=metadata)
