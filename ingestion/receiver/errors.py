"""Errors that end a request with a specific HTTP status and a reason for the caller."""

from __future__ import annotations


class WebhookError(Exception):
    """Answer `status` with `reason`; nothing is written for this request."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def unauthorized(reason: str) -> WebhookError:
    return WebhookError(401, reason)


def malformed(reason: str) -> WebhookError:
    return WebhookError(400, reason)


class BrokerUnavailable(Exception):
    """Kafka did not acknowledge every message of the request in time."""
