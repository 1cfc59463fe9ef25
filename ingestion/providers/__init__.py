"""One module per ESP: authenticate the request, then normalize its events (`receive`)."""

from __future__ import annotations

from ingestion.providers import brevo, mailgun, mailjet, postmark, sendgrid, sns, sparkpost
from ingestion.providers.common import Handler

HANDLERS: dict[str, Handler] = {
    "ses": sns.receive,
    "sendgrid": sendgrid.receive,
    "mailgun": mailgun.receive,
    "postmark": postmark.receive,
    "sparkpost": sparkpost.receive,
    "mailjet": mailjet.receive,
    "brevo": brevo.receive,
}
