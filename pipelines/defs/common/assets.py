import dagster as dg

from murmur.demo import run
from murmur.settings import get_settings


@dg.asset(group_name="platform", kinds={"python"})
def service_roundtrip(context: dg.AssetExecutionContext) -> dg.MaterializeResult[None]:
    """A round trip through Postgres, Kafka, ClickHouse and SMTP: proves the platform's wiring."""
    lines: list[str] = []
    ok = run(get_settings(), say=lines.append)
    for line in lines:
        context.log.info(line)
    if not ok:
        raise dg.Failure(description="round trip failed", metadata={"report": "\n".join(lines)})
    return dg.MaterializeResult(metadata={"report": dg.MetadataValue.md("\n".join(lines))})
