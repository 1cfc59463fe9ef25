"""Sign test webhooks the way each provider does, with keys the tests own."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

from ingestion.providers.sns import string_to_sign

TOPIC = "arn:aws:sns:us-west-2:123456789012:murmur-ses-events"
CERT_NAME = "SimpleNotificationService-murmurtest.pem"
CERT_URL = f"https://sns.us-west-2.amazonaws.com/{CERT_NAME}"
BASIC = "hooks:s3cret-pass"


@dataclass
class Keys:
    sendgrid: ec.EllipticCurvePrivateKey
    sendgrid_public_b64: str
    sns: rsa.RSAPrivateKey
    cert_dir: Path
    mailgun: str = "key-mailgun-test-signing"
    tracking: str = "tracking-test-secret"


def make_keys(directory: Path) -> Keys:
    sg = ec.generate_private_key(ec.SECP256R1())
    der = sg.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(rsa_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .sign(rsa_key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    (directory / CERT_NAME).write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return Keys(sg, base64.b64encode(der).decode(), rsa_key, directory)


def sendgrid_headers(keys: Keys, body: bytes, stamp: int | None = None) -> dict[str, str]:
    ts = str(int(time.time()) if stamp is None else stamp)
    sig = keys.sendgrid.sign(ts.encode() + body, ec.ECDSA(hashes.SHA256()))
    return {
        "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(sig).decode(),
        "X-Twilio-Email-Event-Webhook-Timestamp": ts,
        "Content-Type": "application/json",
    }


def sns_envelope(
    keys: Keys,
    message: Any,
    *,
    kind: str = "Notification",
    version: str = "1",
    topic: str = TOPIC,
    timestamp: dt.datetime | None = None,
    cert_url: str = CERT_URL,
    message_id: str | None = None,
) -> dict[str, Any]:
    when = timestamp or dt.datetime.now(dt.UTC)
    env: dict[str, Any] = {
        "Type": kind,
        "MessageId": message_id or str(uuid.uuid4()),
        "TopicArn": topic,
        "Message": message if isinstance(message, str) else json.dumps(message),
        "Timestamp": when.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
        "SignatureVersion": version,
        "SigningCertURL": cert_url,
    }
    if kind == "Notification":
        env["Subject"] = "Amazon SES Email Event Notification"
        env["UnsubscribeURL"] = "https://sns.us-west-2.amazonaws.com/?Action=Unsubscribe"
    else:
        env["Token"] = "2336412f37fb687f5d51e6e241d09c805a5a57b30d712f794cc5f6a988666d92768dd60a7"
        env["SubscribeURL"] = (
            "https://sns.us-west-2.amazonaws.com/?Action=ConfirmSubscription&TopicArn="
            + topic
            + "&Token=2336412f37fb687f5d51e6e241d09c805a5a57b30d712f794cc5f6a988666d92768dd60a7"
        )
    algorithm = hashes.SHA1() if version == "1" else hashes.SHA256()
    sig = keys.sns.sign(string_to_sign(env), padding.PKCS1v15(), algorithm)
    env["Signature"] = base64.b64encode(sig).decode()
    return env


def sns_headers(kind: str = "Notification", topic: str = TOPIC) -> dict[str, str]:
    return {
        "x-amz-sns-message-type": kind,
        "x-amz-sns-topic-arn": topic,
        "Content-Type": "text/plain; charset=UTF-8",
    }


def mailgun_body(keys: Keys, event_data: dict[str, Any], stamp: int | None = None) -> bytes:
    ts = str(int(time.time()) if stamp is None else stamp)
    token = uuid.uuid4().hex + uuid.uuid4().hex[:18]
    sig = hmac.new(keys.mailgun.encode(), (ts + token).encode(), hashlib.sha256).hexdigest()
    body = {
        "signature": {"timestamp": ts, "token": token, "signature": sig},
        "event-data": event_data,
    }
    return json.dumps(body).encode()


def basic_headers(credentials: str = BASIC) -> dict[str, str]:
    token = base64.b64encode(credentials.encode()).decode()
    return {"Authorization": f"Basic {token}", "Content-Type": "application/json"}
