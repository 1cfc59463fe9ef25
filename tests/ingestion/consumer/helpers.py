"""Small helpers shared by the consumer tests (not fixtures)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import clickhouse_connect
from clickhouse_connect.driver.client import Client

from murmur.clickhouse import parse_url
from murmur.events import EmailEvent, make_event_id
from murmur.ingestion_status import group_lag
from murmur.net import wait_until


def ch_client(url: str) -> Client:
    t = parse_url(url)
    return clickhouse_connect.get_client(**t.client_kwargs())


def event(n: int | str, **fields: Any) -> EmailEvent:
    values: dict[str, Any] = {
        "event_id": make_event_id("sendgrid", fields.get("type", "open"), f"{n}"),
        "type": "open",
        "timestamp": datetime.now(UTC) - timedelta(minutes=5),
        "provider": "sendgrid",
        "provider_event_id": f"sg-{n}",
        "recipient": f"user{n}@example.com",
        "recipient_domain": "example.com",
        "raw": {"event": "open", "sg_event_id": f"sg-{n}", "email": f"user{n}@example.com"},
    }
    values.update(fields)
    return EmailEvent(**values)


def row(e: EmailEvent) -> dict[str, Any]:
    """The consumer's row of an event (what validation hands the sinks)."""
    return dict(e.__dict__)


def unique_events(count: int, **fields: Any) -> list[EmailEvent]:
    tag = uuid.uuid4().hex[:8]
    return [event(f"{tag}-{i}", **fields) for i in range(count)]


def count(client: Client, database: str, sql: str = "select count() from {db}.events") -> int:
    return int(client.command(sql.format(db=f"`{database}`")))


def table_exists(client: Client, database: str) -> bool:
    return str(client.command(f"exists table `{database}`.events")).strip() == "1"


def wait_committed(bootstrap: str, group: str, topic: str, total: int, timeout: float) -> None:
    """Until the group committed every one of `total` messages on `topic`."""

    def done() -> bool:
        lag = group_lag(bootstrap, group, topic, timeout=2)
        return lag.lag == 0 and lag.committed == total

    wait_until(done, timeout, f"group {group} committing {total} messages", interval=0.3)
