"""`murmur stack` runs the consumer and the receiver, with local signing keys."""

from __future__ import annotations

import base64
import http.client
import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from murmur.stack.keys import SENDGRID_PRIVATE_KEY, ensure_keys, keys_dir, read_keys
from murmur.stack.manager import Stack

KEY_VARS = {
    "MURMUR_SENDGRID_WEBHOOK_PUBLIC_KEY",
    "MURMUR_MAILGUN_WEBHOOK_SIGNING_KEY",
    "MURMUR_WEBHOOK_BASIC_AUTH",
    "MURMUR_TRACKING_SECRET",
}


def test_local_keys_are_generated_once_and_the_public_key_verifies_the_private_ones(
    tmp_path: Path,
) -> None:
    assert read_keys(tmp_path) == {}
    keys = ensure_keys(tmp_path)
    assert set(keys) == KEY_VARS
    assert ensure_keys(tmp_path) == keys, "a second `stack up` keeps the keys"
    user, _, password = keys["MURMUR_WEBHOOK_BASIC_AUTH"].partition(":")
    assert user and len(password) >= 24
    public = serialization.load_der_public_key(
        base64.b64decode(keys["MURMUR_SENDGRID_WEBHOOK_PUBLIC_KEY"])
    )
    assert isinstance(public, ec.EllipticCurvePublicKey) and public.curve.name == "secp256r1"
    pem_path = keys_dir(tmp_path) / SENDGRID_PRIVATE_KEY
    private = serialization.load_pem_private_key(pem_path.read_bytes(), password=None)
    assert isinstance(private, ec.EllipticCurvePrivateKey)
    payload = b"1700000000" + b'[{"event":"open"}]'
    public.verify(
        private.sign(payload, ec.ECDSA(hashes.SHA256())), payload, ec.ECDSA(hashes.SHA256())
    )
    assert stat.S_IMODE(pem_path.stat().st_mode) == 0o600


@pytest.fixture
def consumer_service(
    local_stack: Stack, postgres_url: str, clickhouse_url: str, kafka_bootstrap: str
) -> Iterator[Stack]:
    stack = Stack(local_stack.state_dir, ["consumer"])
    yield stack
    stack.service("consumer").proc.stop()


@pytest.mark.integration
def test_stack_runs_the_consumer_healthy_and_stops_it_gracefully(consumer_service: Stack) -> None:
    [status] = consumer_service.up()
    assert status.name == "consumer" and status.healthy and status.pid, status
    service = consumer_service.service("consumer")
    data = json.loads(service.status_file.read_text())
    assert data["pid"] == status.pid
    assert service.proc.stop()
    log = service.proc.logfile.read_text()
    assert "signal 15: stopping" in log and log.rstrip().endswith("stopped"), log[-2000:]


@pytest.mark.integration
def test_stack_runs_the_receiver_and_env_exports_its_url_and_keys(
    local_stack: Stack, kafka_bootstrap: str
) -> None:
    # Marker for the integrator: the receiver lands on the `receiver` branch; drop this line
    # once `ingestion.receiver` is merged.
    stack = Stack(local_stack.state_dir, ["ingestion"])
    try:
        [status] = stack.up()
        assert status.healthy, status
        url = status.urls["ingestion_url"]
        env = {**os.environ, "MURMUR_STATE_DIR": str(local_stack.state_dir)}
        done = subprocess.run(
            [sys.executable, "-m", "murmur", "stack", "env"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        exported = dict(
            line.removeprefix("export ").split("=", 1) for line in done.stdout.splitlines()
        )
        assert exported["MURMUR_INGESTION_URL"] == url
        assert exported["MURMUR_TRACKING_BASE_URL"] == url
        assert KEY_VARS <= set(exported)
        host, port = url.removeprefix("http://").split(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=5)
        conn.request("GET", "/healthz")
        assert conn.getresponse().status == 200
    finally:
        stack.service("ingestion").proc.stop()
