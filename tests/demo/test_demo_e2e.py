"""`murmur demo` at small size, end to end on real services: the marts agree with the simulator.

The demo runs on its own Kafka, SMTP sink, receiver, consumer and simulator (a private state
dir) with a fresh Postgres database and ClickHouse database on the session's servers. The
analytics refresh runs in-process (`dg.materialize`, replication and the dbt models the marts
need) instead of as `dagster job execute` children, which only saves their start-up.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import sqlalchemy as sa

from murmur.clickhouse import ensure_database, get_client
from murmur.db.engine import make_engine
from murmur.db.tables import contacts, emails, suppressions
from murmur.demo.dagster_runs import AFTER_SEND
from murmur.demo.people import generate_people
from murmur.demo.run import DemoOptions, DemoResult, run_demo
from murmur.demo.seed import SUPPRESSED_EVERY
from murmur.net import wait_until
from murmur.settings import Settings, get_settings
from murmur.stack.manager import Stack
from pipelines.defs.dbt.assets import build_dbt_assets
from pipelines.defs.dbt.project import dbt_executable, dbt_project
from pipelines.defs.replication.assets import postgres_replication
from tests.murmur.conftest import empty_db_url  # noqa: F401  (fixture)
from tests.pipelines.refresh import analytics_resources

pytestmark = pytest.mark.e2e

SERVICES = ["kafka", "smtp", "ingestion", "consumer", "simulator"]
# Rates high enough that 300 contacts see every outcome; delays a tenth of the demo's.
SIMULATOR = {
    "time_scale": 0.1,
    "rates": {"hard_bounce": 0.05, "soft_bounce": 0.03, "complaint": 0.04, "unsubscribe": 0.04},
}
# What `campaign_analytics` (the summary) and the deliverability mart read.
MARTS = (
    "campaign_performance",
    "campaign_performance_hourly",
    "fct_email_sends",
    "deliverability_by_mailbox_provider",
)
MART_FIELDS = (
    "sends",
    "delivered",
    "bounced",
    "hard_bounced",
    "soft_bounced",
    "unique_opens",
    "unique_human_opens",
    "unique_clicks",
    "complained",
    "unsubscribed",
    "total_opens",
    "total_clicks",
)


_REFRESHES: list[str] = []


def _refresh(settings: Settings, say: Any, stage: str) -> None:
    """Replication, then (after the send) the dbt models the summary reads and their upstream.

    The marts are rebuilt whole every time, so the dbt build before the send, which the demo
    shows, adds nothing here: the first call replicates only.
    """
    unpartitioned, _ = build_dbt_assets(dbt_project())
    selection: dg.AssetSelection = dg.AssetSelection.assets(postgres_replication)  # not subsettable
    if stage == AFTER_SEND:
        marts = dg.AssetSelection.assets(*(dg.AssetKey(m) for m in MARTS))
        selection = selection | marts.upstream()
    _REFRESHES.append("dbt" if stage == AFTER_SEND else "replication")
    resources = analytics_resources(settings, dbt_executable=dbt_executable())
    result = dg.materialize(
        [postgres_replication, unpartitioned], resources=resources, selection=selection
    )
    assert result.success
    say(f"      refreshed in-process ({_REFRESHES[-1]})")


@pytest.fixture(scope="module")
def demo_run(
    empty_db_url: str,  # noqa: F811
    clickhouse_url: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[DemoResult, Settings, list[str]]]:
    state: Path = tmp_path_factory.mktemp("demo-state")
    config = state / "simulator.json"
    config.write_text(json.dumps(SIMULATOR))
    database = f"t_{uuid.uuid4().hex[:12]}"
    env = {
        "MURMUR_STATE_DIR": str(state),
        "MURMUR_POSTGRES_URL": empty_db_url,
        "MURMUR_CLICKHOUSE_URL": clickhouse_url,
        "MURMUR_CLICKHOUSE_DATABASE": database,
        "MURMUR_SIMULATOR_CONFIG": str(config),
        "MURMUR_SEND_SHARDS": "2",
    }
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)  # the stack's services inherit them
        settings = get_settings()
        ensure_database(settings)
        stack = Stack(state, SERVICES)
        try:
            stack.up()
            lines: list[str] = []
            options = DemoOptions(contacts=300, seed=11, start_stack=False, timeout=300)
            result = run_demo(settings, options, lines.append, refresh=_refresh)
            yield result, settings, lines
        finally:
            stack.down()
            client = get_client(settings, database=False)
            client.command(f"drop database if exists `{database}` sync")
            client.close()


def test_the_campaign_performance_mart_equals_what_the_simulator_posted(
    demo_run: tuple[DemoResult, Settings, list[str]],
) -> None:
    result, _, lines = demo_run
    report = "\n".join(lines)
    totals = result.report["totals"]
    outcomes = result.ledger["outcomes"]
    assert result.counters["sent"] == result.ledger["messages"] > 250, report
    assert {f: totals[f] for f in MART_FIELDS} == {f: outcomes[f] for f in MART_FIELDS}, report
    for kind in ("delivered", "deferred", "bounce_hard", "spamreport", "open", "click"):
        assert result.ledger["events"].get(kind, 0) > 0, (kind, result.ledger)
    assert result.ledger["events"].get("machine_open", 0) > 0  # iCloud recipients, Apple MPP
    assert totals["unique_opens"] > totals["unique_human_opens"]
    providers = {row["mailbox_provider"] for row in result.report["by_mailbox_provider"]}
    assert {"Gmail", "Apple iCloud", "Other"} <= providers
    assert "import " in report and "rejected" in report and "duplicates" in report
    assert "Summary (from the campaign_performance and deliverability marts):" in report


def _suppressions(settings: Settings, account: uuid.UUID) -> dict[str, str]:
    engine = make_engine(settings.require("postgres_url"), pool_size=1, max_overflow=0)
    try:
        with engine.connect() as conn:
            query = sa.select(suppressions.c.email, suppressions.c.reason)
            rows = conn.execute(query.where(suppressions.c.account_id == account)).all()
    finally:
        engine.dispose()
    return {str(email): str(reason) for email, reason in rows}


def test_suppressed_contacts_got_nothing_and_bounces_and_complaints_are_suppressed_after(
    demo_run: tuple[DemoResult, Settings, list[str]],
) -> None:
    result, settings, _ = demo_run
    account = result.seeded.account_id
    people = generate_people(300, seed=11)
    before = {p.email for p in people[SUPPRESSED_EVERY // 2 :: SUPPRESSED_EVERY]}
    assert len(before) == result.seeded.suppressed == 3
    engine = make_engine(settings.require("postgres_url"), pool_size=1, max_overflow=0)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.select(contacts.c.email, contacts.c.status)
                .join(emails, emails.c.contact_id == contacts.c.contact_id)
                .where(emails.c.campaign_id == result.campaign_id, emails.c.status == "sent")
            ).all()
            sent = {str(email): str(status) for email, status in rows}
    finally:
        engine.dispose()
    assert len(sent) == result.counters["sent"]
    assert not before & set(sent), "a contact suppressed before the send was sent to"
    received = set()
    for path in (settings.state_dir / "maildir").glob("*/*"):
        head = path.read_bytes().split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
        found = re.search(rb"^X-Sink-Rcpt-To: (.+?)\r?$", head, re.MULTILINE)
        assert found is not None, path
        received.add(found.group(1).decode().strip())
    assert received == set(sent)
    assert not before & received
    outcomes = result.ledger["outcomes"]
    want = outcomes["hard_bounced"] + outcomes["complained"] + outcomes["unsubscribed"]
    assert outcomes["hard_bounced"] > 0 and outcomes["complained"] > 0

    def feedback_applied() -> bool:
        listed = _suppressions(settings, account)
        return bool(len([e for e in listed if e in sent]) >= int(want))

    wait_until(feedback_applied, 120, "the feedback consumer suppressing the campaign's bounces")
    listed = _suppressions(settings, account)
    reasons = sorted(r for e, r in listed.items() if e in sent)
    assert reasons.count("bounce") == outcomes["hard_bounced"]  # soft bounces: 1 < the limit
    assert reasons.count("complaint") == outcomes["complained"]
    assert reasons.count("unsubscribe") == outcomes["unsubscribed"]
