"""Ingestion test fixtures.

Receiver: test-owned signing keys, a migrated database, the app on its own broker.
Consumer: per-test topics, a ledger in Postgres, consumer subprocesses (the Postgres fixtures are
shared with tests/murmur: a fresh migrated database per module).
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
import sqlalchemy as sa
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient
from starlette.testclient import TestClient

from ingestion.receiver.app import create_app
from murmur.db.migrate import upgrade
from murmur.db.tables import campaigns, contacts, emails
from murmur.domain.accounts import create_account
from murmur.events import EmailEvent
from murmur.kafka import ensure_topics, producer_config
from murmur.settings import Settings
from murmur.stack.manager import Stack
from tests.ingestion.kafka_log import TopicLog, Written
from tests.ingestion.signing import BASIC, TOPIC, Keys, make_keys
from tests.murmur.conftest import db_engine, empty_db_url, migrated_db_url

__all__ = ["db_engine", "empty_db_url", "migrated_db_url"]
REPO = Path(__file__).resolve().parents[2]
TRACKING_BASE = "http://testserver"


@pytest.fixture(scope="session")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    return make_keys(tmp_path_factory.mktemp("sns-certs"))


@pytest.fixture(scope="session")
def receiver_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Tansu broker of the receiver tests' own: their sentinel messages disturb no one."""
    stack = Stack(tmp_path_factory.mktemp("receiver-kafka"), ["kafka"])
    stack.up()
    yield stack.service("kafka").urls()["kafka_bootstrap_servers"]
    stack.down()


@pytest.fixture(scope="module")
def ingestion_db_url(postgres_url: str) -> Iterator[str]:
    """A fresh migrated database for the module (webhook_tokens lives there)."""
    name = f"t_{uuid.uuid4().hex[:16]}"
    parts = urlsplit(postgres_url)
    server = urlunsplit(parts._replace(scheme="postgresql", path="/postgres"))
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'create database "{name}"')
    url = urlunsplit(parts._replace(scheme="postgresql", path=f"/{name}"))
    upgrade(url)
    yield url
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'drop database if exists "{name}" with (force)')


def receiver_settings(
    keys: Keys, bootstrap: str, db_url: str | None, tmp: Path, **overrides: Any
) -> Settings:
    values: dict[str, Any] = {
        "state_dir": tmp,
        "kafka_bootstrap_servers": bootstrap,
        "postgres_url": db_url,
        "sns_topic_arns": TOPIC,
        "sns_cert_dir": keys.cert_dir,
        "sendgrid_webhook_public_key": keys.sendgrid_public_b64,
        "mailgun_webhook_signing_key": keys.mailgun,
        "webhook_basic_auth": BASIC,
        "tracking_base_url": TRACKING_BASE,
        "tracking_secret": keys.tracking,
        **overrides,
    }
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


MakeClient = Callable[..., TestClient]


@pytest.fixture(scope="module")
def make_client(
    keys: Keys,
    receiver_kafka: str,
    ingestion_db_url: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[MakeClient]:
    """Start a receiver app (lifespan and all) with settings overrides; closed after the module."""
    opened: list[TestClient] = []

    def make(**overrides: Any) -> TestClient:
        tmp = tmp_path_factory.mktemp("receiver")
        settings = receiver_settings(keys, receiver_kafka, ingestion_db_url, tmp, **overrides)
        client = TestClient(create_app(settings), follow_redirects=False)
        client.__enter__()
        opened.append(client)
        return client

    yield make
    for client in opened:
        client.__exit__(None, None, None)


@pytest.fixture(scope="module")
def client(make_client: MakeClient) -> TestClient:
    return make_client()


@pytest.fixture(scope="module")
def topic_log(receiver_kafka: str) -> Iterator[TopicLog]:
    log = TopicLog(receiver_kafka)
    yield log
    log.close()


@pytest.fixture
def capture(topic_log: TopicLog) -> Callable[[Callable[[], Any]], tuple[Any, Written]]:
    """Run an action and return (its result, what it wrote to the topics)."""

    def run(action: Callable[[], Any]) -> tuple[Any, Written]:
        marks = topic_log.marks()
        result = action()
        return result, topic_log.since(marks)

    return run


@dataclass(frozen=True)
class Topics:
    events: str
    dlq: str
    group: str


@pytest.fixture
def topics(kafka_bootstrap: str) -> Iterator[Topics]:
    """A fresh `test-<uuid>` topic, its DLQ and a group id; topics deleted afterwards."""
    name = f"test-{uuid.uuid4().hex[:12]}"
    made = Topics(name, f"{name}-dlq", f"g-{name}")
    ensure_topics(kafka_bootstrap, [made.events, made.dlq])
    yield made
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap, "log_level": 3})
    for future in admin.delete_topics([made.events, made.dlq], operation_timeout=10).values():
        try:
            future.result(timeout=10)
        except Exception:  # a broker without delete support keeps them: names are unique
            pass


def produce(bootstrap: str, topic: str, messages: list[EmailEvent | bytes]) -> None:
    """Produce events (as the receiver does: JSON, keyed by email record id) or raw bytes."""
    producer = Producer(producer_config(bootstrap, **{"queue.buffering.max.messages": 500_000}))
    for i, item in enumerate(messages):
        if isinstance(item, EmailEvent):
            producer.produce(topic, item.to_json(), key=item.kafka_key())
        else:
            producer.produce(topic, item, key=b"raw")
        if i % 5000 == 0:
            producer.poll(0)
    assert producer.flush(30) == 0, "broker did not acknowledge every test message"


@dataclass(frozen=True)
class Ledger:
    account_id: uuid.UUID
    campaign_id: int
    contact_id: int
    email_record_id: int
    esp_message_id: str
    email: str


MakeLedger = Callable[..., Ledger]


@pytest.fixture(scope="module")
def make_ledger(db_engine: sa.Engine) -> MakeLedger:
    """`make_ledger()`: an account, a contact, a campaign and one sent email record."""

    def make(email: str | None = None) -> Ledger:
        email = email or f"c{uuid.uuid4().hex[:10]}@example.com"
        esp_message_id = f"esp-{uuid.uuid4().hex}"
        with db_engine.begin() as conn:
            account_id = create_account(conn, f"acct-{uuid.uuid4().hex[:8]}")
            contact_id = conn.execute(
                contacts.insert()
                .values(account_id=account_id, email=email)
                .returning(contacts.c.contact_id)
            ).scalar_one()
            campaign_id = conn.execute(
                campaigns.insert()
                .values(account_id=account_id, name="c", subject="s")
                .returning(campaigns.c.campaign_id)
            ).scalar_one()
            record_id = conn.execute(
                emails.insert()
                .values(
                    account_id=account_id,
                    campaign_id=campaign_id,
                    contact_id=contact_id,
                    status="sent",
                    esp="sendgrid",
                    esp_message_id=esp_message_id,
                )
                .returning(emails.c.email_record_id)
            ).scalar_one()
        return Ledger(account_id, campaign_id, contact_id, record_id, esp_message_id, email)

    return make


@dataclass
class ConsumerRunner:
    """Starts `python -m ingestion consume` subprocesses against the test services."""

    env: dict[str, str]
    log_dir: Path
    procs: list[subprocess.Popen[bytes]]

    def start(self, topics: Topics, *args: str, name: str = "consumer") -> subprocess.Popen[bytes]:
        log = (self.log_dir / f"{name}-{len(self.procs)}.log").open("wb")
        argv = [sys.executable, "-m", "ingestion", "consume", "--topic", topics.events]
        argv += ["--dlq-topic", topics.dlq, "--group", topics.group]
        argv += ["--feedback-group", f"{topics.group}-fb", "--stats-interval", "1", *args]
        proc = subprocess.Popen(argv, env=self.env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
        self.procs.append(proc)
        return proc

    def logs(self) -> str:
        return "\n".join(p.read_text() for p in sorted(self.log_dir.glob("*.log")))


@pytest.fixture
def consumer_env(
    tmp_path: Path, migrated_db_url: str, clickhouse_url: str, kafka_bootstrap: str
) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "MURMUR_STATE_DIR": str(tmp_path / "state"),
        "MURMUR_POSTGRES_URL": migrated_db_url,
        "MURMUR_CLICKHOUSE_URL": clickhouse_url,
        "MURMUR_CLICKHOUSE_DATABASE": f"t_{uuid.uuid4().hex[:12]}",
        "MURMUR_KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        # Tansu joins a group after about half the session timeout: keep tests quick
        "MURMUR_CONSUMER_SESSION_TIMEOUT_MS": "2000",
        "MURMUR_CONSUMER_HEARTBEAT_INTERVAL_MS": "300",
        "MURMUR_CONSUMER_BATCH_TIME_MS": "200",
    }


@pytest.fixture
def consumers(consumer_env: dict[str, str], tmp_path: Path) -> Iterator[ConsumerRunner]:
    runner = ConsumerRunner(consumer_env, tmp_path, [])
    yield runner
    for proc in runner.procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)
