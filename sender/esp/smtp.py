"""The SMTP adapter: the pooled `SmtpMessenger`, one attempt per push, its failures classified.

An answer to RCPT TO in 4xx is the recipient's mailbox provider deferring that recipient (a
deferral: backoff, not the relay's fault); a dropped connection, 421 or a 4xx at MAIL FROM/DATA
is the relay failing (it counts against its circuit breaker). 5xx stays permanent.
"""

from __future__ import annotations

from dataclasses import replace

from sender.esp.backoff import hint_from_text
from sender.esp.base import EspFailure, EspRef
from sender.messengers.smtp import SmtpConfig, SmtpMessenger
from sender.models import Outgoing, SendFailure

THROTTLE_CODES = frozenset({421, 450, 451, 452})


class SmtpAdapter:
    def __init__(self, ref: EspRef, config: SmtpConfig) -> None:
        self.ref = ref
        self.messenger = SmtpMessenger(
            replace(config, max_retries=0)  # the router retries
        )

    def push(self, message: Outgoing) -> str:
        try:
            return self.messenger.push(message)
        except SendFailure as exc:
            raise classify(exc, self.ref) from None

    def close(self) -> None:
        self.messenger.close()


def classify(exc: SendFailure, via: EspRef) -> EspFailure:
    """The router's view of one SMTP failure."""
    if isinstance(exc, EspFailure):
        return exc
    recipient_step = exc.reason.endswith("(RCPT TO)")
    temporary = not exc.permanent
    failure = EspFailure(
        exc.reason,
        permanent=exc.permanent,
        code=exc.code,
        throttled=temporary and exc.code in THROTTLE_CODES,
        retry_after=hint_from_text(exc.reason) if temporary else None,
        esp_fault=temporary and not (recipient_step and exc.code != 421),
        via=via,
    )
    failure.hard_bounce = exc.hard_bounce
    return failure
