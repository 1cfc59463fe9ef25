"""SendGrid's Event Webhook as SendGrid sends it: JSON batches, ECDSA-signed.

Each event carries our custom argument `murmur_email_id` (SendGrid copies custom args to the
top level of every event) and the message's `smtp-id`; `sg_event_id` is derived from the seed,
the record and the step, so a retried batch carries the same ids and collapses downstream.
The signature is ECDSA P-256 / SHA-256 over the timestamp header followed by the raw body,
base64 of the DER signature, with the private key `murmur stack up` generated.
"""

from __future__ import annotations

import base64
import hashlib
import time
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from murmur.events import EMAIL_ID_TAG
from simulator.mail import Sent
from simulator.plan import Step
from simulator.providers import profile_for

SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"
SENDING_IP = "203.0.113.25"  # the (documentation-range) IP our simulated ESP sends from
_INVALID = "Invalid Address"
_SOFT = "Mailbox Unavailable"


class Signer:
    def __init__(self, pem_path: Path) -> None:
        try:
            key = serialization.load_pem_private_key(pem_path.read_bytes(), password=None)
        except OSError as exc:
            raise ValueError(
                f"SendGrid signing key {pem_path}: {exc.strerror or exc} (`murmur stack up` "
                "creates it with the receiver's keys)"
            ) from None
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError(f"SendGrid signing key {pem_path} is not an EC private key")
        self.key = key

    def headers(self, body: bytes, now: float | None = None) -> dict[str, str]:
        stamp = str(int(time.time() if now is None else now))
        signature = self.key.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))
        return {
            "Content-Type": "application/json",
            "User-Agent": "SendGrid Event API",
            SIGNATURE_HEADER: base64.b64encode(signature).decode(),
            TIMESTAMP_HEADER: stamp,
        }


def _id(seed: int, sent: Sent, step: Step, size: int = 22) -> str:
    raw = hashlib.sha256(f"{seed}:{sent.email_record_id}:{step.index}".encode()).digest()
    return base64.urlsafe_b64encode(raw).decode()[:size]


def event_for(seed: int, sent: Sent, step: Step, now: float | None = None) -> dict[str, Any]:
    """The SendGrid event of a webhook step (`delivered`, `deferred`, `bounce_*`, `spamreport`)."""
    prof = profile_for(sent.domain)
    stamp = int(time.time() if now is None else now)
    message = _id(seed, sent, Step(0, "delivered", -1), 22)
    fill = {
        "rcpt": sent.recipient,
        "domain": sent.domain,
        "message_id": sent.message_id.strip("<>"),
        "stamp": stamp,
        "token": message[:12],
        "n": sent.email_record_id % 1000,
    }
    item: dict[str, Any] = {
        "email": sent.recipient,
        "timestamp": stamp,
        "smtp-id": sent.message_id,
        "sg_event_id": _id(seed, sent, step),
        "sg_message_id": f"{message}.recvd-7d5c8b9f4-x2k9q-1-{stamp:X}-{step.index}.0",
        "category": ["campaign"],
        EMAIL_ID_TAG: str(sent.email_record_id),
    }
    if step.kind == "delivered":
        item.update(event="delivered", ip=SENDING_IP, tls=1, response=prof.delivered_reply)
    elif step.kind == "deferred":
        item.update(event="deferred", ip=SENDING_IP, tls=1, attempt=str(step.attempt))
        item["response"] = prof.deferral_reply
    elif step.kind in ("bounce_hard", "bounce_soft"):
        status, reason = prof.hard_bounce if step.kind == "bounce_hard" else prof.soft_bounce
        item.update(event="bounce", type="bounce", ip=SENDING_IP, tls=1, status=status)
        item["bounce_classification"] = _INVALID if step.kind == "bounce_hard" else _SOFT
        item["reason"] = reason
    elif step.kind == "spamreport":
        item["event"] = "spamreport"
    else:
        raise ValueError(f"{step.kind} is not a webhook event")
    for key in ("response", "reason"):
        if key in item:
            item[key] = str(item[key]).format(**fill)
    return item
