"""`python -m ingestion serve` runs the receiver on uvicorn: a real HTTP round trip to Kafka."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from murmur.net import free_port, port_open, wait_until
from tests.ingestion.kafka_log import TopicLog
from tests.ingestion.signing import TOPIC, Keys, sendgrid_headers

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith("MURMUR_")}
    return {"PYTHONPATH": str(ROOT), **keep, "MURMUR_STATE_DIR": str(tmp_path), **extra}


@pytest.fixture
def served(tmp_path: Path, keys: Keys, receiver_kafka: str, ingestion_db_url: str) -> Iterator[str]:
    port = free_port()
    env = _env(
        tmp_path,
        MURMUR_KAFKA_BOOTSTRAP_SERVERS=receiver_kafka,
        MURMUR_POSTGRES_URL=ingestion_db_url,
        MURMUR_SENDGRID_WEBHOOK_PUBLIC_KEY=keys.sendgrid_public_b64,
        MURMUR_SNS_TOPIC_ARNS=TOPIC,
        MURMUR_SNS_CERT_DIR=str(keys.cert_dir),
    )
    log = (tmp_path / "serve.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "ingestion", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_until(lambda: port_open(port) or proc.poll() is not None, 60, "receiver to listen")
        assert proc.poll() is None, (tmp_path / "serve.log").read_text()
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        log.close()


def test_serve_answers_health_and_lands_a_signed_webhook_on_kafka(
    served: str, keys: Keys, receiver_kafka: str
) -> None:
    assert httpx.get(f"{served}/healthz").json() == {"status": "ok"}
    batch = [
        {
            "email": "cli@example.com",
            "timestamp": 1700000000,
            "event": "open",
            "sg_event_id": "cli-1",
            "useragent": "Mozilla/5.0",
            "murmur_email_id": "55",
        }
    ]
    body = json.dumps(batch).encode()
    log = TopicLog(receiver_kafka)
    marks = log.marks()
    response = httpx.post(
        f"{served}/api/v1/webhooks/esp-events", content=body, headers=sendgrid_headers(keys, body)
    )
    written = log.since(marks)
    log.close()
    assert response.status_code == 200, response.text
    (event,) = written.events
    assert (event.type, event.email_record_id, event.machine_open) == ("open", 55, True)


def test_serve_without_a_broker_configured_exits_2_naming_the_variable(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "ingestion", "serve"],
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "MURMUR_KAFKA_BOOTSTRAP_SERVERS" in done.stderr


def test_unknown_command_exits_2_with_usage(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "ingestion", "fly"],
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "usage" in done.stderr


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("MURMUR_WEBHOOK_BASIC_AUTH", "no-colon-here"),
        ("MURMUR_SENDGRID_WEBHOOK_PUBLIC_KEY", "bm90IGEga2V5"),
    ],
)
def test_serve_with_a_malformed_secret_exits_2_naming_it(
    variable: str, value: str, tmp_path: Path
) -> None:
    env = _env(tmp_path, MURMUR_KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:1", **{variable: value})
    done = subprocess.run(
        [sys.executable, "-m", "ingestion", "serve", "--port", str(free_port())],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert variable in done.stderr
