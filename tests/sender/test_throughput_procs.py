"""`python -m sender send --procs P`: several worker processes on one shard, each row once."""

from __future__ import annotations

import json
import signal
import subprocess
from collections import Counter
from pathlib import Path

import pytest
import sqlalchemy as sa

from murmur.db.tables import campaigns
from murmur.domain.sending import counters
from murmur.net import wait_until
from tests.sender.conftest import MakeCampaign, messages_for
from tests.sender.helpers import sender_command, worker_env

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
def env(migrated_db_url: str, smtp_url: str, tmp_path: Path) -> dict[str, str]:
    return worker_env(migrated_db_url, smtp_url, str(tmp_path))


def _summary(stdout: bytes) -> dict[str, object]:
    summary: dict[str, object] = json.loads(stdout.decode().strip().splitlines()[-1])
    return summary


def test_three_processes_send_every_allowed_recipient_exactly_once(
    db_engine: sa.Engine, make_campaign: MakeCampaign, maildir: Path, env: dict[str, str]
) -> None:
    c = make_campaign(n=240, refused_each=2)
    run = subprocess.run(
        sender_command(c.campaign_id, "--procs", "3", "--batch-size", "20"),
        env=env,
        capture_output=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr.decode()[-2000:]
    summary = _summary(run.stdout)
    assert summary["outcome"] == "sent" and summary["sent"] == 240 and summary["procs"] == 3
    assert isinstance(summary["peak_rss_mb"], float) and summary["peak_rss_mb"] > 0
    received = Counter(str(m["To"]) for m in messages_for(maildir, c.domain))
    assert set(received) == c.allowed and set(received.values()) == {1}
    with db_engine.connect() as conn:
        counts = counters(conn, c.campaign_id)
        status = conn.execute(
            sa.select(campaigns.c.status).where(campaigns.c.campaign_id == c.campaign_id)
        ).scalar_one()
    assert counts["sent"] == 240 and counts["possible_duplicates"] == 0
    assert status == "sent"


def test_sigterm_to_the_parent_stops_every_worker_without_duplicates(
    db_engine: sa.Engine, make_campaign: MakeCampaign, maildir: Path, env: dict[str, str]
) -> None:
    c = make_campaign(n=400, refused_each=1)
    parent = subprocess.Popen(
        sender_command(c.campaign_id, "--procs", "2", "--batch-size", "10"),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )

    def mid() -> bool:
        with db_engine.connect() as conn:
            counts = counters(conn, c.campaign_id)
        return counts["sent"] >= 30 and counts["sending"] > 0

    wait_until(mid, timeout=300, what="the workers to be mid-send", interval=0.05)
    parent.send_signal(signal.SIGTERM)
    out, err = parent.communicate(timeout=120)
    assert parent.returncode == 3, err.decode()[-2000:]
    assert _summary(out)["outcome"] == "stopped"
    with db_engine.connect() as conn:
        counts = counters(conn, c.campaign_id)
    assert counts["sending"] == 0 and counts["queued"] > 0  # released, not abandoned

    rerun = subprocess.run(
        sender_command(c.campaign_id, "--procs", "2"), env=env, capture_output=True, timeout=600
    )
    assert rerun.returncode == 0, rerun.stderr.decode()[-2000:]
    received = Counter(str(m["To"]) for m in messages_for(maildir, c.domain))
    assert set(received) == c.allowed and set(received.values()) == {1}  # zero duplicates


def test_procs_out_of_range_is_a_usage_error(env: dict[str, str]) -> None:
    run = subprocess.run(sender_command(1, "--procs", "0"), env=env, capture_output=True)
    assert run.returncode == 2 and b"--procs" in run.stderr
