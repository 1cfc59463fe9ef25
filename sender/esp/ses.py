"""The Amazon SES v2 adapter: `SendEmail` with `Content.Raw`, a configuration set and a tag.

Raw content keeps our headers intact (List-Unsubscribe, Message-ID, DKIM when we sign); the
`murmur_email_id` message tag lets SES events (through the configuration set's event
destination) correlate with the ledger. botocore's own retries are off: the router retries with
its backoff, rate limit and failover, and counts every throttle.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config as BotoConfig
from botocore.exceptions import BotoCoreError, ClientError

from sender.esp.backoff import hint_from_header
from sender.esp.base import EspFailure, EspRef
from sender.models import Outgoing

THROTTLE_CODES = frozenset(
    {"Throttling", "ThrottlingException", "TooManyRequestsException", "LimitExceededException"}
)
# The account cannot send at all right now: fail over (the ESP's fault), the message is fine.
ESP_DOWN_CODES = frozenset({"SendingPausedException", "AccountSuspendedException"})


@dataclass(frozen=True)
class SesConfig:
    region: str = "us-east-1"
    endpoint_url: str | None = None
    access_key_id: str | None = None
    secret_access_key: str | None = None
    configuration_set: str | None = None
    timeout: float = 30.0


class SesAdapter:
    def __init__(self, ref: EspRef, config: SesConfig) -> None:
        self.ref = ref
        self.config = config
        self.client: Any = boto3.session.Session().client(
            "sesv2",
            region_name=config.region,
            endpoint_url=config.endpoint_url,
            aws_access_key_id=config.access_key_id,
            aws_secret_access_key=config.secret_access_key,
            config=BotoConfig(
                retries={"total_max_attempts": 1, "mode": "standard"},
                connect_timeout=config.timeout,
                read_timeout=config.timeout,
                max_pool_connections=64,
            ),
        )

    def push(self, message: Outgoing) -> str:
        request: dict[str, Any] = {
            "FromEmailAddress": message.mail_from,
            "Destination": {"ToAddresses": [message.rcpt_to]},
            "Content": {"Raw": {"Data": message.data}},
            "EmailTags": [{"Name": "murmur_email_id", "Value": str(message.email_record_id)}],
        }
        if self.config.configuration_set:
            request["ConfigurationSetName"] = self.config.configuration_set
        try:
            response = self.client.send_email(**request)
        except ClientError as exc:
            raise classify(exc, self.ref) from None
        except BotoCoreError as exc:  # connection refused, timeouts, endpoint errors
            raise EspFailure(f"SES: {exc}", permanent=False, via=self.ref) from None
        return str(response["MessageId"])

    def close(self) -> None:
        self.client.close()


def classify(exc: ClientError, via: EspRef) -> EspFailure:
    """The router's view of one SES error.

    Throttles and 5xx are temporary (5xx and account-level refusals open the circuit); other
    4xx (MessageRejected, an unverified sender, a bad request) are permanent.
    """
    error = exc.response.get("Error", {})
    code = str(error.get("Code", "Unknown"))
    meta = exc.response.get("ResponseMetadata", {})
    status = int(meta.get("HTTPStatusCode") or 0)
    headers = {str(k).lower(): str(v) for k, v in (meta.get("HTTPHeaders") or {}).items()}
    reason = f"SES {status} {code}: {error.get('Message', '')}".strip()
    if code in THROTTLE_CODES or status == 429:
        return EspFailure(
            reason,
            permanent=False,
            code=status,
            throttled=True,
            retry_after=hint_from_header(headers.get("retry-after")),
            esp_fault=False,
            via=via,
        )
    if status >= 500 or code in ESP_DOWN_CODES:
        return EspFailure(reason, permanent=False, code=status, esp_fault=True, via=via)
    return EspFailure(reason, permanent=True, code=status, esp_fault=False, via=via)
