"""A hostile template against a real `murmur api serve` process: `/send` answers, the API stays
responsive, the campaign row is never locked while rendering, and SIGTERM stops the server.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from murmur.net import free_port, port_open, wait_until
from tests.murmur.conftest import MakeAccount, auth

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[3]
HOSTILE = (
    "{% for a in range(10000) %}{% for b in range(10000) %}{% for c in range(10000) %}"
    "{% endfor %}{% endfor %}{% endfor %}"
)


@pytest.fixture(scope="module")
def server(
    migrated_db_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "MURMUR_POSTGRES_URL": migrated_db_url,
        "MURMUR_STATE_DIR": str(tmp_path_factory.mktemp("serve-state")),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "murmur.cli", "api", "serve", "--port", str(port)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(lambda: port_open(port), 60, "murmur api serve listening")
        yield f"http://127.0.0.1:{port}", proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _hostile_campaign(client: httpx.Client, h: dict[str, str]) -> int:
    tpl = client.post(
        "/api/v1/templates", headers=h, json={"name": "t", "subject": "s", "body_html": HOSTILE}
    )
    assert tpl.status_code == 201, tpl.text
    seg = client.post("/api/v1/segments", headers=h, json={"name": "s", "definition": {"all": []}})
    body = {
        "name": "c",
        "subject": "hi",
        "template_id": tpl.json()["template_id"],
        "segment_id": seg.json()["segment_id"],
    }
    campaign = client.post("/api/v1/campaigns", headers=h, json=body)
    assert campaign.status_code == 201, campaign.text
    return int(campaign.json()["campaign_id"])


def _send_ignoring_errors(url: str, campaign_id: int, h: dict[str, str]) -> None:
    try:
        httpx.post(f"{url}/api/v1/campaigns/{campaign_id}/send", headers=h, timeout=120)
    except httpx.HTTPError:
        pass  # the server may stop before answering


def test_a_hostile_template_fails_send_without_stalling_or_locking_and_sigterm_stops_the_api(
    server: tuple[str, subprocess.Popen[bytes]], make_account: MakeAccount, db_engine: sa.Engine
) -> None:
    # Regression: /send never returned, held the campaign row lock and blocked SIGTERM.
    url, proc = server
    h = auth(make_account("editor")[1])
    with httpx.Client(base_url=url, timeout=120) as client:
        campaign_id = _hostile_campaign(client, h)
        answer: list[httpx.Response] = []
        sender = threading.Thread(
            target=lambda: answer.append(
                client.post(f"/api/v1/campaigns/{campaign_id}/send", headers=h)
            )
        )
        sender.start()
        locked = 0
        while sender.is_alive():
            assert client.get("/api/v1/account", headers=h).status_code == 200
            with db_engine.connect() as conn:
                try:
                    conn.execute(
                        sa.text(
                            "select 1 from campaigns where campaign_id = :id for update nowait"
                        ),
                        {"id": campaign_id},
                    )
                except sa.exc.OperationalError:
                    locked += 1
                conn.rollback()
        sender.join()
        assert answer and answer[0].status_code == 422, answer
        detail = answer[0].json()["detail"]
        assert detail[0]["loc"] == ["campaign", "template.body_html"]
        assert "render budget exceeded" in detail[0]["msg"]
        assert locked == 0
        assert client.get(f"/api/v1/campaigns/{campaign_id}", headers=h).json()["status"] == "draft"
        assert client.get("/api/v1/account", headers=h).status_code == 200
    # a second hostile send in flight when SIGTERM arrives: the server still stops
    late = threading.Thread(target=_send_ignoring_errors, args=(url, campaign_id, h), daemon=True)
    late.start()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) is not None
