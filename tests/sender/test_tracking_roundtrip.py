"""Sender and receiver agree: the links of a delivered mail work through the real receiver.

A campaign goes out through `python -m sender` (settings from the environment, as `murmur
campaigns send` starts it) into the SMTP sink; the test parses the delivered mail and follows its
click link, open pixel and RFC 8058 one-click unsubscribe through the ingestion receiver app
(started with the same secret, lifespan and all, on a Kafka broker of this module's own), then
reads back the events the receiver wrote to the events topic.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from email.message import Message
from html import unescape
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from ingestion.receiver.app import create_app
from murmur.db.tables import campaigns, emails
from murmur.kafka import DLQ_TOPIC, EVENTS_TOPIC, ensure_topics
from murmur.settings import Settings
from murmur.stack.manager import Stack
from tests.ingestion.kafka_log import TopicLog
from tests.sender.conftest import MakeCampaign, messages_for
from tests.sender.helpers import sender_command, worker_env

pytestmark = pytest.mark.integration
BASE = "http://testserver"  # the TestClient's host: the links point at this receiver
SECRET = "roundtrip-tracking-secret"
OFFER = "https://example.com/offer?x=1&y=2"  # the template's link, as the browser must land


@pytest.fixture(scope="module")
def own_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A broker of this module's own: the read-back sentinels disturb no other consumer."""
    stack = Stack(tmp_path_factory.mktemp("roundtrip-kafka"), ["kafka"])
    stack.up()
    bootstrap = stack.service("kafka").urls()["kafka_bootstrap_servers"]
    ensure_topics(bootstrap, [EVENTS_TOPIC, DLQ_TOPIC])
    yield bootstrap
    stack.down()


@pytest.fixture(scope="module")
def receiver(
    own_kafka: str, migrated_db_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        state_dir=tmp_path_factory.mktemp("receiver"),
        kafka_bootstrap_servers=own_kafka,
        postgres_url=migrated_db_url,
        tracking_base_url=BASE,
        tracking_secret=SECRET,
    )
    with TestClient(create_app(settings), follow_redirects=False) as client:
        yield client


@pytest.fixture(scope="module")
def topic_log(own_kafka: str) -> Iterator[TopicLog]:
    log = TopicLog(own_kafka)
    yield log
    log.close()


def _send(campaign_id: int, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        sender_command(campaign_id), env=env, capture_output=True, text=True, timeout=180
    )


def _html(msg: Message) -> str:
    for part in msg.walk():
        if part.get_content_type() == "text/html":
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            return payload.decode()
    raise AssertionError("no text/html part")


def _path(url: str) -> str:
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}" == BASE, url
    return parts.path + (f"?{parts.query}" if parts.query else "")


def test_click_open_and_unsubscribe_of_a_sent_mail_work_through_the_real_receiver(
    db_engine: sa.Engine,
    make_campaign: MakeCampaign,
    migrated_db_url: str,
    smtp_url: str,
    maildir: Path,
    receiver: TestClient,
    topic_log: TopicLog,
    tmp_path: Path,
) -> None:
    c = make_campaign(n=3, refused_each=1)
    env = worker_env(
        migrated_db_url,
        smtp_url,
        str(tmp_path),
        MURMUR_TRACKING_BASE_URL=BASE,
        MURMUR_TRACKING_SECRET=SECRET,
    )
    done = _send(c.campaign_id, env)
    assert done.returncode == 0, done.stderr
    delivered = messages_for(maildir, c.domain)
    assert {str(m["To"]) for m in delivered} == c.allowed
    msg = delivered[0]
    email_id = int(str(msg["X-Murmur-Email-Id"]))
    with db_engine.connect() as conn:
        contact_id = conn.execute(
            sa.select(emails.c.contact_id).where(emails.c.email_record_id == email_id)
        ).scalar_one()
    html = _html(msg)
    (click,) = re.findall(rf'href="({re.escape(BASE)}/t/c/[^"]+)"', html)
    (pixel,) = re.findall(rf'<img src="({re.escape(BASE)}/t/o/[^"]+\.gif)"', html)
    https, mailto = re.findall(r"<([^>]+)>", str(msg["List-Unsubscribe"]))
    assert mailto.startswith("mailto:") and msg["List-Unsubscribe-Post"] == (
        "List-Unsubscribe=One-Click"
    )

    marks = topic_log.marks()
    clicked = receiver.get(_path(unescape(click)), headers={"User-Agent": "Thunderbird"})
    opened = receiver.get(_path(unescape(pixel)), headers={"User-Agent": "Thunderbird"})
    unsubscribed = receiver.post(
        _path(https),
        content=b"List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    written = topic_log.since(marks)

    assert clicked.status_code == 302 and clicked.headers["location"] == OFFER
    assert opened.status_code == 200 and opened.headers["content-type"] == "image/gif"
    assert unsubscribed.status_code in (200, 202), unsubscribed.text
    assert not written.dead
    by_type = {e.type: e for e in written.events}
    assert sorted(by_type) == ["click", "open", "unsubscribe"] and len(written.events) == 3
    for event in by_type.values():
        assert event.provider == "tracking"
        assert event.email_record_id == email_id
        assert event.account_id == c.account_id
        assert event.campaign_id == c.campaign_id
        assert event.contact_id == contact_id
    assert by_type["click"].url == OFFER
    assert not by_type["open"].machine_open


def test_a_tampered_click_link_from_the_mail_is_refused_by_the_receiver(
    make_campaign: MakeCampaign,
    migrated_db_url: str,
    smtp_url: str,
    maildir: Path,
    receiver: TestClient,
    topic_log: TopicLog,
    tmp_path: Path,
) -> None:
    c = make_campaign(n=1, refused_each=0)
    env = worker_env(
        migrated_db_url,
        smtp_url,
        str(tmp_path),
        MURMUR_TRACKING_BASE_URL=BASE,
        MURMUR_TRACKING_SECRET=SECRET,
    )
    assert _send(c.campaign_id, env).returncode == 0
    (msg,) = messages_for(maildir, c.domain)
    (click,) = re.findall(rf'href="({re.escape(BASE)}/t/c/[^"]+)"', _html(msg))
    path = _path(unescape(click))
    redirected = path.split("?u=", 1)[0] + "?u=https%3A%2F%2Fevil.example%2F"
    marks = topic_log.marks()
    answer = receiver.get(redirected)
    assert answer.status_code == 404 and "location" not in answer.headers
    assert topic_log.since(marks).nothing


def test_a_sender_without_the_tracking_secret_refuses_to_start_the_dispatch(
    db_engine: sa.Engine,
    make_campaign: MakeCampaign,
    migrated_db_url: str,
    smtp_url: str,
    maildir: Path,
    tmp_path: Path,
) -> None:
    # Regression: without a secret the sender signed every link with an empty key (a warning)
    c = make_campaign(n=2, refused_each=0)
    env = worker_env(migrated_db_url, smtp_url, str(tmp_path), MURMUR_TRACKING_BASE_URL=BASE)
    env.pop("MURMUR_TRACKING_SECRET")
    refused = _send(c.campaign_id, env)
    assert refused.returncode == 2
    assert "MURMUR_TRACKING_SECRET" in refused.stderr
    assert messages_for(maildir, c.domain) == []
    with db_engine.connect() as conn:
        status = conn.execute(
            sa.select(campaigns.c.status).where(campaigns.c.campaign_id == c.campaign_id)
        ).scalar_one()
        queued = conn.execute(
            sa.select(sa.func.count()).where(emails.c.campaign_id == c.campaign_id)
        ).scalar_one()
    assert status == "scheduled" and queued == 0  # nothing started, nothing half-written
