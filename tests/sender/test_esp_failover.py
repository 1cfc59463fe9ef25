"""A failing SMTP relay fails over to SES and comes back after recovery: nothing lost or doubled."""

from __future__ import annotations

import uuid
from email import message_from_bytes
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests.murmur.conftest import MakeAccount
from tests.sender.esp_helpers import (
    SES_KEYS,
    Moto,
    Sink,
    add_esp,
    esp_manager,
    esp_settings,
    ledger,
    make_esp_campaign,
    moto,
    sink,
)

__all__ = ["moto", "sink"]
pytestmark = [pytest.mark.integration, pytest.mark.slow]


class Outage:
    """The relay goes down after `after` messages and recovers once it has refused `refusals` MAILs.

    Regression: it used to recover a fixed time after going down, on the first MAIL after that
    time (which it still refused); on a loaded machine SES had sent the rest of the campaign
    before the next half-open probe, so the relay's circuit ended open instead of closed. Counted
    refusals make the outage span the opening failures and one failed probe, and recovery comes
    with the probe after that, whatever the machine's speed.
    """

    def __init__(self, handler: Sink, after: int, refusals: int) -> None:
        self.handler = handler
        self.after = after
        self.refusals = refusals
        self.done = False
        original_data, original_mail = handler.handle_DATA, handler.handle_MAIL

        async def data(server: Any, session: Any, envelope: Any) -> str:
            answer = await original_data(server, session, envelope)
            if not self.done and not handler.down and len(handler.received) >= self.after:
                handler.down = True
            return answer

        async def mail(server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
            answer = await original_mail(server, session, envelope, address, options)
            if handler.down and handler.refused >= self.refusals:
                handler.down, self.done = False, True  # recovered: the next probe succeeds
            return answer

        handler.handle_DATA = data  # type: ignore[method-assign]
        handler.handle_MAIL = mail  # type: ignore[method-assign]


def test_a_failing_relay_fails_over_to_ses_and_back_with_nothing_lost_or_doubled(
    db_engine: sa.Engine,
    migrated_db_url: str,
    make_account: MakeAccount,
    moto: Moto,
    sink: tuple[Sink, str],
    tmp_path: Path,
) -> None:
    handler, relay_url = sink
    Outage(handler, after=30, refusals=4)  # 3 open the circuit, 1 failed probe
    domain = f"{uuid.uuid4().hex[:8]}.example"
    moto.verify(domain)
    account_id, _ = make_account(default_from_email=f"news@{domain}")
    relay_id = add_esp(
        db_engine,
        account_id,
        name="relay",
        kind="smtp",
        priority=1,
        rate_limit=50,
        credentials={"url": relay_url},
    )
    add_esp(
        db_engine,
        account_id,
        name="ses-backup",
        kind="ses",
        priority=2,
        settings={"region": "us-east-1", "endpoint_url": moto.url},
        credentials=SES_KEYS,
    )
    n = 200
    c = make_esp_campaign(db_engine, account_id, domain, [f"f{i}@outlook.com" for i in range(n)])
    settings = esp_settings(
        migrated_db_url,
        "smtp://127.0.0.1:1",  # the platform default is never used: the account has its own
        str(tmp_path),
        circuit_window=6,
        circuit_min_calls=3,
        circuit_failure_rate=0.5,
        circuit_cooldown_seconds=0.3,
    )
    manager, router = esp_manager(db_engine, settings)
    pipe = manager.run(c.campaign_id)
    router.close()

    assert pipe.sent == n and pipe.failed == 0 and pipe.outcome == "sent"
    via_relay = handler.message_ids(domain)
    via_ses = [str(message_from_bytes(raw)["Message-ID"]) for raw in moto.sent(domain)]
    assert len(via_relay) == len(set(via_relay)) and len(via_ses) == len(set(via_ses))
    assert not set(via_relay) & set(via_ses)  # nothing doubled across ESPs
    assert len(via_relay) + len(via_ses) == n  # nothing lost
    assert via_ses, "the relay's outage moved mail to SES"
    assert len(via_relay) > 30, "mail came back to the relay after it recovered"
    rows = ledger(db_engine, c.campaign_id)
    by_esp = {r.esp for r in rows}
    assert by_esp == {"relay", "ses-backup"}
    assert sum(r.esp == "relay" for r in rows) == len(via_relay)
    assert {r.esp_id for r in rows if r.esp == "relay"} == {relay_id}
    states = [t["state"] for t in router.metadata()["circuit_transitions"] if t["esp"] == "relay"]
    assert states[0] == "open" and "half_open" in states and states[-1] == "closed"
