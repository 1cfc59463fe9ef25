"""Wiring: settings → PgStore + SmtpMessenger + CampaignRenderer (+ DKIM) + event sink.

`link_minter` is the one of `murmur.rendering.links` (the API's preview and test-send use it
too), re-exported here for the sender's entry points.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import sqlalchemy as sa

from murmur.crypto import CryptoError
from murmur.domain.dkim import load_key
from murmur.rendering.links import link_minter
from murmur.settings import Settings
from sender.dkim_sign import DkimSigner
from sender.models import Campaign, Renderer
from sender.render.links import LinkMinter
from sender.render.message import CampaignRenderer
from sender.store import PgStore

__all__ = ["link_minter", "renderer_factory"]

log = logging.getLogger("sender")


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
