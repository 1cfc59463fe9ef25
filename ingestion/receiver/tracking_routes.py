"""Our own tracking: open pixel, click redirect, one-click unsubscribe (RFC 8058) and its page.

Tokens come from `murmur.tracking`; a tampered or unknown token answers 404 and never redirects.
Opens and clicks are published best effort (the person gets the pixel or the redirect even when
the broker is down, and the failure is logged); an unsubscribe answers 503 until Kafka has it.
"""

from __future__ import annotations

import base64
import html
import logging
import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from ingestion.providers.common import machine_open
from ingestion.receiver.errors import BrokerUnavailable, WebhookError
from ingestion.receiver.http import read_body
from murmur.events import EmailEvent, make_event_id
from murmur.kafka import EVENTS_TOPIC
from murmur.tracking import TrackingIds, verify_click, verify_open, verify_unsubscribe

if TYPE_CHECKING:
    from ingestion.receiver.app import Receiver

log = logging.getLogger(__name__)

PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
_NO_STORE = {"Cache-Control": "no-store, private", "Referrer-Policy": "no-referrer"}
_MULTIPART_ONE_CLICK = re.compile(rb'name="List-Unsubscribe"\r?\n\r?\nOne-Click(\r?\n|$)')
_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body style="font-family: sans-serif; max-width: 36em; margin: 3em auto;">
<h1>{title}</h1>{body}</body></html>
"""


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    text = _PAGE.format(title=html.escape(title), body=body)
    return HTMLResponse(text, status_code=status, headers=_NO_STORE)


def _not_found() -> Response:
    return Response(b"not found", status_code=404, media_type="text/plain", headers=_NO_STORE)


def one_click_body(body: bytes, content_type: str) -> bool:
    """True for the RFC 8058 body `List-Unsubscribe=One-Click` (urlencoded or multipart)."""
    if content_type.startswith("multipart/form-data"):
        return bool(_MULTIPART_ONE_CLICK.search(body))
    try:
        form = parse_qs(body.decode("ascii"), strict_parsing=False)
    except UnicodeDecodeError:
        return False
    return form.get("List-Unsubscribe") == ["One-Click"]


class Tracking:
    def __init__(self, receiver: Receiver) -> None:
        self.receiver = receiver

    def _secret(self) -> str | None:
        secret = self.receiver.settings.tracking_secret
        return secret.get_secret_value() if secret else None

    def _event(
        self, kind: str, ids: TrackingIds, key: str, request: Request, url: str | None = None
    ) -> EmailEvent:
        agent = request.headers.get("user-agent")
        ip = request.client.host if request.client else None
        return EmailEvent(
            event_id=make_event_id("tracking", kind, key),
            type=kind,  # type: ignore[arg-type]
            timestamp=datetime.now(UTC),
            provider="tracking",
            email_record_id=ids.email_record_id,
            account_id=ids.account_id,
            campaign_id=ids.campaign_id,
            contact_id=ids.contact_id,
            ip_address=ip,
            user_agent=agent[:1000] if agent else None,
            url=url,
            machine_open=kind == "open" and machine_open(agent),
        )

    async def _best_effort(self, event: EmailEvent) -> None:
        try:
            await self.receiver.publish([(EVENTS_TOPIC, event.kafka_key(), event.to_json())])
        except BrokerUnavailable as exc:
            log.error("lost a tracking %s of email %s: %s", event.type, event.email_record_id, exc)

    def _hit_key(self, token: str, request: Request) -> str:
        # every hit is its own event: the token plus when and from where it came
        when = datetime.now(UTC).isoformat()
        return f"{token}|{when}|{request.client}|{request.headers.get('user-agent')}"

    async def open_pixel(self, request: Request) -> Response:
        name: str = request.path_params["name"]
        secret = self._secret()
        token = name[: -len(".gif")] if name.endswith(".gif") else ""
        ids = verify_open(secret, token) if secret and token else None
        if ids is None:
            return _not_found()
        await self._best_effort(self._event("open", ids, self._hit_key(token, request), request))
        return Response(PIXEL, media_type="image/gif", headers=_NO_STORE)

    async def click(self, request: Request) -> Response:
        token: str = request.path_params["token"]
        target = request.query_params.get("u", "")
        secret = self._secret()
        ids = verify_click(secret, token, target) if secret and target else None
        if ids is None or not target.lower().startswith(("http://", "https://")):
            return _not_found()
        key = self._hit_key(token, request)
        await self._best_effort(self._event("click", ids, key, request, url=target[:4000]))
        return RedirectResponse(target, status_code=302, headers=_NO_STORE)

    async def unsubscribe_page(self, request: Request) -> Response:
        token: str = request.path_params["token"]
        secret = self._secret()
        if not secret or verify_unsubscribe(secret, token) is None:
            return _page("Link not valid", "<p>This unsubscribe link is not valid.</p>", 404)
        base = (self.receiver.settings.tracking_base_url or "").rstrip("/")
        action = html.escape(f"{base}/u/{token}", quote=True)  # base may carry a path prefix
        form = (
            "<p>Do you want to stop receiving these emails?</p>"
            f'<form method="post" action="{action}">'
            '<input type="hidden" name="List-Unsubscribe" value="One-Click">'
            '<button type="submit">Unsubscribe</button></form>'
        )
        return _page("Unsubscribe", form)

    async def unsubscribe(self, request: Request) -> Response:
        token: str = request.path_params["token"]
        secret = self._secret()
        ids = verify_unsubscribe(secret, token) if secret else None
        if ids is None:
            return _page("Link not valid", "<p>This unsubscribe link is not valid.</p>", 404)
        try:
            body = await read_body(request, 4096)
        except WebhookError:
            body = b""
        if not one_click_body(body, request.headers.get("content-type", "")):
            return _page("Bad request", "<p>Expected List-Unsubscribe=One-Click.</p>", 400)
        event = self._event("unsubscribe", ids, token, request)  # one per email, however often
        try:
            await self.receiver.publish([(EVENTS_TOPIC, event.kafka_key(), event.to_json())])
        except BrokerUnavailable:
            return _page("Try again", "<p>We could not record that just now; try again.</p>", 503)
        return _page("Unsubscribed", "<p>You are unsubscribed. You will not get these emails.</p>")
