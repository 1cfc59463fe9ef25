"""Building a real sender (Postgres ledger, SMTP sink) and its campaigns for in-process tests."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import sqlalchemy as sa

from murmur.db.tables import campaigns, segments
from murmur.domain.templates import create_template
from sender.events import DiscardEventSink
from sender.manager import Config, Manager
from sender.messengers.smtp import SmtpConfig, SmtpMessenger
from sender.models import Campaign, EventSink, Renderer
from sender.render.links import TrackingLinkMinter
from sender.render.message import CampaignRenderer
from sender.store import PgStore

TRACKING_BASE = "https://track.example.net"
TRACKING_SECRET = "test-tracking-secret"
LINKS = TrackingLinkMinter(TRACKING_BASE, TRACKING_SECRET)


def insert_campaign(
    conn: sa.Connection,
    account_id: uuid.UUID,
    tag: str,
    subject: str,
    html: str,
    text: str | None = None,
) -> int:
    """A scheduled campaign to the segment `custom_fields.list == <tag>` (its contacts are the
    caller's), on a new template pinned at version 1 as the API pins it at scheduling."""
    segment_id = conn.execute(
        segments.insert()
        .values(
            account_id=account_id,
            name=f"seg {tag}",
            kind="criteria",
            definition={"all": [{"field": "custom_fields.list", "op": "eq", "value": tag}]},
        )
        .returning(segments.c.segment_id)
    ).scalar_one()
    template_id = create_template(
        conn,
        account_id,
        {"name": "t", "subject": subject, "body_html": html, "body_text": text},
        "test",
    )["template_id"]
    return int(
        conn.execute(
            campaigns.insert()
            .values(
                account_id=account_id,
                name=f"campaign {tag}",
                subject=subject,
                template_id=template_id,
                segment_id=segment_id,
                status="scheduled",
                template_version=1,
            )
            .returning(campaigns.c.campaign_id)
        ).scalar_one()
    )


def real_manager(
    engine: sa.Engine,
    smtp_url: str,
    config: Config | None = None,
    events: EventSink | None = None,
    renderer_for: Callable[[Campaign], Renderer] | None = None,
    max_retries: int = 5,
) -> Manager:
    return Manager(
        PgStore(engine),
        SmtpMessenger(
            SmtpConfig.from_url(smtp_url, retry_base_seconds=0.05, max_retries=max_retries)
        ),
        renderer_for or (lambda campaign: CampaignRenderer(campaign, LINKS)),
        events or DiscardEventSink(),
        config or Config(batch_size=50, concurrency=4),
    )


def worker_env(db_url: str, smtp_url: str, state_dir: str, **extra: str) -> dict[str, str]:
    """Environment of a `python -m sender` subprocess on this worktree's code."""
    import os
    import sys
    from pathlib import Path

    root = str(Path(__file__).resolve().parents[2])
    env = {k: v for k, v in os.environ.items() if not k.startswith("MURMUR_")}
    env.update(
        PYTHONPATH=root,
        MURMUR_POSTGRES_URL=db_url,
        MURMUR_SMTP_URL=smtp_url,
        MURMUR_STATE_DIR=state_dir,
        MURMUR_SEND_LEASE_SECONDS="5",
        MURMUR_TRACKING_SECRET=TRACKING_SECRET,
        MURMUR_TRACKING_BASE_URL=TRACKING_BASE,
        PYTHON=sys.executable,
    )
    env.update(extra)
    return env


def sender_command(campaign_id: int, *args: str) -> list[str]:
    import sys

    return [sys.executable, "-m", "sender", "send", str(campaign_id), "--no-events", *args]
