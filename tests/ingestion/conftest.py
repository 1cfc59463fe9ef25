"""Receiver fixtures: test-owned signing keys, a migrated database, the app on the real broker."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from starlette.testclient import TestClient

from ingestion.receiver.app import create_app
from murmur.db.migrate import upgrade
from murmur.settings import Settings
from murmur.stack.manager import Stack
from tests.ingestion.kafka_log import TopicLog, Written
from tests.ingestion.signing import BASIC, TOPIC, Keys, make_keys

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
