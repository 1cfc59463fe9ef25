"""`CampaignRenderer`: the sender's Renderer over `murmur.rendering.message.MessageRenderer`.

The message itself is built in `murmur.rendering` (shared with the API's preview and
test-send), and is the sender's `Outgoing`; this adapts the error: a render error fails that
one email (`RenderFailure`).
"""

from __future__ import annotations

from murmur.domain.rendering import RenderError
from murmur.rendering.links import LinkMinter
from murmur.rendering.message import MessageRenderer, Signer
from murmur.rendering.mime import b64_lines as _b64
from sender.models import Campaign, Outgoing, Recipient, RenderFailure

__all__ = ["CampaignRenderer", "_b64"]


class CampaignRenderer:
    """The Renderer of one campaign: compiled once (RenderError if it does not compile)."""

    def __init__(
        self,
        campaign: Campaign,
        links: LinkMinter,
        signer: Signer | None = None,
        track_opens: bool = True,
        track_clicks: bool = True,
    ) -> None:
        self.campaign = campaign
        self.renderer = MessageRenderer(campaign, links, signer, track_opens, track_clicks)
        self.compiled = self.renderer.compiled

    def __call__(self, recipient: Recipient) -> Outgoing:
        try:
            message = self.renderer(recipient)
        except RenderError as exc:
            raise RenderFailure(str(exc)) from None
        return message
