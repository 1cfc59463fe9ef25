"""Wiring: settings → PgStore + SmtpMessenger + CampaignRenderer (+ DKIM) + event sink."""

from __future__ import annotations

import logging
from collections.abc import Callable

import sqlalchemy as sa

from murmur.crypto import CryptoError
from murmur.domain.dkim import load_key
from murmur.settings import Settings, SettingsError
from sender.dkim_sign import DkimSigner
from sender.models import Campaign, Renderer
from sender.render.links import LinkMinter, TrackingLinkMinter
from sender.render.message import CampaignRenderer
from sender.store import PgStore

log = logging.getLogger("sender")


def link_minter(settings: Settings) -> LinkMinter:
    """The minter of this dispatch, or SettingsError: links are never sent unsigned.

    Every mail carries the signed unsubscribe link (List-Unsubscribe, the footer), so the secret
    is needed even for a campaign without open or click tracking. The local stack provides both
    values (`Settings.resolved()` reads them from the running stack).
    """
    resolved = settings.resolved()
    secret = resolved.tracking_secret.get_secret_value() if resolved.tracking_secret else ""
    if not secret:
        raise SettingsError(
            "MURMUR_TRACKING_SECRET is not set and no local stack provides it: the sender signs "
            "the unsubscribe, click and open links with it and the ingestion receiver verifies "
            "them with the same secret. Set MURMUR_TRACKING_SECRET (the receiver's value) or run "
            "`murmur stack up`."
        )
    if not resolved.tracking_base_url:
        raise SettingsError(
            "MURMUR_TRACKING_BASE_URL is not set and no local stack provides it: the public URL "
            "of the ingestion receiver that serves /t/o, /t/c and /u."
        )
    try:
        return TrackingLinkMinter(resolved.tracking_base_url, secret)
    except ValueError as exc:
        raise SettingsError(str(exc)) from None


def renderer_factory(
    engine: sa.Engine, store: PgStore, settings: Settings, links: LinkMinter
) -> Callable[[Campaign], Renderer]:
    """Compile the campaign once and load its domain's DKIM key (unsigned with a warning)."""

    def build(campaign: Campaign) -> Renderer:
        domain = campaign.from_email.rsplit("@", 1)[-1].lower()
        signer = None
        warning = None
        try:
            with engine.connect() as conn:
                key = load_key(conn, campaign.account_id, domain, settings.secret_key or "")
        except CryptoError as exc:
            key, warning = None, f"sending unsigned: DKIM key of {domain} unusable: {exc}"
        if key is not None:
            signer = DkimSigner(key.domain, key.selector, key.private_key)
        elif warning is None:
            warning = f"sending unsigned: no DKIM key for {domain} (`murmur dkim keygen {domain}`)"
        if warning is not None:
            log.warning("campaign %s: %s", campaign.campaign_id, warning)
            store.set_status_reason(campaign.campaign_id, warning)
        return CampaignRenderer(campaign, links, signer)

    return build
