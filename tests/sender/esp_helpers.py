"""ESP test helpers: moto's SES in server mode, a timestamping SMTP sink, ESP rows, a router."""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from typing import Any

import boto3
import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from confluent_kafka import Consumer
from moto.server import ThreadedMotoServer

from murmur.db.tables import contacts
from murmur.domain.esps import create_esp
from murmur.events import EmailEvent
from murmur.kafka import consumer_config
from murmur.net import free_port
from murmur.settings import Settings, get_settings
from sender.esp.router import EspRouter
from sender.esp.wiring import build_router
from sender.manager import Config, Manager
from sender.models import EventSink
from sender.render.message import CampaignRenderer
from sender.store import PgStore
from tests.sender.helpers import LINKS, insert_campaign

SECRET = "esp-tests-secret-key-0123456789"
SES_KEYS = {"access_key_id": "AKIDMOTOTEST", "secret_access_key": "moto-secret"}


@dataclass
class Moto:
    url: str

    def client(self) -> Any:
        return boto3.client(
            "sesv2",
            region_name="us-east-1",
            endpoint_url=self.url,
            aws_access_key_id=SES_KEYS["access_key_id"],
            aws_secret_access_key=SES_KEYS["secret_access_key"],
        )

    def verify(self, domain: str) -> None:
        client = self.client()
        client.create_email_identity(EmailIdentity=domain)
        existing = client.list_configuration_sets().get("ConfigurationSets", [])
        if "murmur" not in existing:
            client.create_configuration_set(ConfigurationSetName="murmur")

    def sent_records(self, domain: str) -> list[tuple[str, bytes]]:
        """(SES message id, raw message) of every mail moto accepted whose Message-ID is in
        `domain`, read at GET /moto-api/data.json."""
        with urllib.request.urlopen(f"{self.url}/moto-api/data.json", timeout=30) as answer:
            data = json.load(answer)
        out = []
        for m in data.get("ses", {}).get("RawMessage", []):
            raw = m["raw_data"].encode() if isinstance(m["raw_data"], str) else m["raw_data"]
            if str(message_from_bytes(raw)["Message-ID"]).endswith(f"@{domain}>"):
                out.append((str(m["id"]), bytes(raw)))
        return out

    def sent(self, domain: str) -> list[bytes]:
        return [raw for _, raw in self.sent_records(domain)]


@pytest.fixture(scope="session")
def moto() -> Iterator[Moto]:
    """moto's whole AWS in server mode on a free port (SES cannot be reached from tests)."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield Moto(f"http://127.0.0.1:{port}")
    server.stop()


@dataclass
class Sink:
    """An SMTP relay for tests: stores (time, rcpt, raw); `defer(rcpt)` / `down` make it fail.

    It announces PIPELINING (as Postfix does), so the sender's pipelined path is the one these
    tests exercise; `pipelined` counts the RCPT TO whose DATA was already in the input buffer
    (sent without waiting for the RCPT answer).
    """

    received: list[tuple[float, str, bytes]] = field(default_factory=list)
    defer: Callable[[str], bool] = lambda rcpt: False
    refuse: Callable[[str], str | None] = lambda rcpt: None  # a 5xx answer to RCPT TO
    down: bool = False
    refused: int = 0
    deferred: int = 0
    pipelining: bool = True
    pipelined: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname
        if self.pipelining:
            responses.insert(1, "250-PIPELINING")
        return responses

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if self.down:
            with self.lock:
                self.refused += 1
            return "421 4.3.2 service shutting down"
        envelope.mail_from = address
        return "250 OK"

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        buffered = bytes(getattr(server._reader, "_buffer", b""))
        with self.lock:
            self.pipelined += buffered.startswith(b"DATA")
        if self.defer(address):
            with self.lock:
                self.deferred += 1
            return "451 4.7.1 rate limited for this recipient, try again later"
        refusal = self.refuse(address)
        if refusal is not None:
            return refusal
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            for rcpt in envelope.rcpt_tos:
                self.received.append((time.time(), rcpt, envelope.original_content))
        return f"250 2.0.0 Ok: queued as S{uuid.uuid4().hex[:12]}"

    def message_ids(self, domain: str) -> list[str]:
        with self.lock:
            raws = [raw for _, _, raw in self.received]
        ids = [str(message_from_bytes(raw)["Message-ID"]) for raw in raws]
        return [i for i in ids if i.endswith(f"@{domain}>")]


@pytest.fixture
def sink() -> Iterator[tuple[Sink, str]]:
    handler = Sink()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    yield handler, f"smtp://127.0.0.1:{port}"
    controller.stop()


@dataclass
class EspCampaign:
    account_id: uuid.UUID
    campaign_id: int
    domain: str
    recipients: list[str]


def make_esp_campaign(
    engine: sa.Engine, account_id: uuid.UUID, domain: str, recipients: list[str]
) -> EspCampaign:
    """A scheduled campaign to exactly `recipients` (the account sends from news@`domain`)."""
    tag = uuid.uuid4().hex[:8]
    with engine.begin() as conn:
        conn.execute(
            contacts.insert(),
            [
                {
                    "account_id": account_id,
                    "email": email,
                    "first_name": f"F{i}",
                    "custom_fields": {"list": tag},
                    "status": "subscribed",
                }
                for i, email in enumerate(recipients)
            ],
        )
        campaign_id = insert_campaign(
            conn, account_id, tag, "Hi {{ first_name }}", "<p>Hello {{ first_name }}</p>"
        )
    return EspCampaign(account_id, campaign_id, domain, recipients)


def add_esp(engine: sa.Engine, account_id: uuid.UUID, **values: Any) -> int:
    with engine.begin() as conn:
        return int(create_esp(conn, account_id, values, SECRET)["esp_id"])


def esp_settings(db_url: str, smtp_url: str, tmp: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "postgres_url": db_url,
        "smtp_url": smtp_url,
        "state_dir": tmp,
        "secret_key": SECRET,
        "smtp_retry_base_seconds": 0.02,
        "esp_retry_max_seconds": 0.5,
        **overrides,
    }
    return get_settings(**values)


def esp_manager(
    engine: sa.Engine,
    settings: Settings,
    events: EventSink | None = None,
    config: Config | None = None,
    **router_kwargs: Any,
) -> tuple[Manager, EspRouter]:
    from sender.events import DiscardEventSink

    sink = events or DiscardEventSink()
    router = build_router(engine, settings, sink, **router_kwargs)
    manager = Manager(
        PgStore(engine),
        router,
        lambda campaign: CampaignRenderer(campaign, LINKS),
        sink,
        config or Config(batch_size=40, concurrency=4),
    )
    return manager, router


def consume(bootstrap: str, topic: str, expected: int) -> list[EmailEvent]:
    """Up to `expected` events read back from a test topic (stops after ~150 s without)."""
    consumer = Consumer(consumer_config(bootstrap, f"test-{uuid.uuid4().hex}"))
    consumer.subscribe([topic])
    events: list[EmailEvent] = []
    try:
        for _ in range(300):
            msg = consumer.poll(0.5)
            if msg is not None and msg.error() is None:
                events.append(EmailEvent.from_json(msg.value()))
                if len(events) >= expected:
                    break
    finally:
        consumer.close()
    return events


def ledger(engine: sa.Engine, campaign_id: int) -> list[sa.Row[Any]]:
    with engine.connect() as conn:
        return list(
            conn.execute(
                sa.text(
                    "select e.email_record_id, e.status, e.esp, e.esp_id, e.esp_message_id,"
                    " e.error, c.email from emails e join contacts c using (contact_id)"
                    " where e.campaign_id = :id order by e.email_record_id"
                ),
                {"id": campaign_id},
            )
        )
