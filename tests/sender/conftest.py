"""Fixtures for sender tests: campaigns over real Postgres, mail read back from the SMTP sink."""

from __future__ import annotations

import mailbox
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from email.message import Message
from pathlib import Path

import pytest
import sqlalchemy as sa

from murmur.db.tables import contacts, suppressions
from murmur.stack.manager import Stack
from tests.murmur import conftest as _shared
from tests.sender.helpers import insert_campaign

TEMPLATE_HTML = (
    "<html><body><h1>Hello {{ first_name }}</h1>"
    '<p>Plan: {{ custom_fields.plan | default("free") }}</p>'
    '<p><a href="https://example.com/offer?x=1&amp;y=2">Offer</a></p></body></html>'
)

# shared fixtures: a fresh migrated database per module, accounts with keys
empty_db_url = _shared.empty_db_url
migrated_db_url = _shared.migrated_db_url
db_engine = _shared.db_engine
make_account = _shared.make_account


@dataclass
class CampaignFixture:
    account_id: uuid.UUID
    campaign_id: int
    domain: str  # the sending domain: Message-IDs end in @domain
    allowed: set[str]  # addresses that may receive it
    refused: set[str]  # suppressed, unsubscribed, bounced, complained


MakeCampaign = Callable[..., CampaignFixture]


@pytest.fixture(scope="module")
def make_campaign(
    db_engine: sa.Engine, make_account: Callable[..., tuple[uuid.UUID, str]]
) -> MakeCampaign:
    """`make_campaign(n=…, refused_each=…, html=…)`: a scheduled campaign to a fresh segment.

    The segment is `custom_fields.list == <tag>`; besides `n` allowed contacts it holds
    `refused_each` contacts of each refused kind (suppressed, unsubscribed, bounced,
    complained), and one contact outside the segment.
    """

    def make(
        n: int = 50,
        refused_each: int = 5,
        html: str = TEMPLATE_HTML,
        text: str | None = None,
        subject: str = "Hi {{ first_name }}",
    ) -> CampaignFixture:
        domain = f"{uuid.uuid4().hex[:10]}.example"
        account_id, _ = make_account(default_from_email=f"news@{domain}")
        tag = uuid.uuid4().hex[:8]
        rows = []
        allowed, refused = set(), set()
        for i in range(n):
            email = f"c{i}@r-{domain}"
            allowed.add(email)
            rows.append(_contact(account_id, email, i, tag, "subscribed"))
        kinds = ("suppressed", "unsubscribed", "bounced", "complained")
        for kind in kinds:
            for i in range(refused_each):
                email = f"{kind}{i}@r-{domain}"
                refused.add(email)
                status = "subscribed" if kind == "suppressed" else kind
                rows.append(_contact(account_id, email, i, tag, status))
        rows.append(_contact(account_id, f"outside@r-{domain}", 0, "other", "subscribed"))
        with db_engine.begin() as conn:
            conn.execute(contacts.insert(), rows)
            # on the suppression list while the contact still says subscribed (an imported list)
            if refused_each:
                conn.execute(
                    suppressions.insert(),
                    [
                        {
                            "account_id": account_id,
                            "email": f"suppressed{i}@r-{domain}",
                            "reason": "bounce",
                        }
                        for i in range(refused_each)
                    ],
                )
            campaign_id = insert_campaign(conn, account_id, tag, subject, html, text)
            # make sure the suppressed ones really are suppressed and still subscribed
            assert (
                conn.execute(
                    sa.select(sa.func.count()).where(suppressions.c.account_id == account_id)
                ).scalar_one()
                == refused_each
            )
        return CampaignFixture(account_id, campaign_id, domain, allowed, refused)

    return make


def _contact(account_id: uuid.UUID, email: str, i: int, tag: str, status: str) -> dict[str, object]:
    return {
        "account_id": account_id,
        "email": email,
        "first_name": f"First{i}",
        "last_name": "Last",
        "custom_fields": {"list": tag, "plan": "pro" if i % 2 else "basic"},
        "status": status,
    }


@pytest.fixture(scope="session")
def maildir(local_stack: Stack, smtp_url: str) -> Path:
    return Path(local_stack.service("smtp").maildir)  # type: ignore[attr-defined]


def messages_for(maildir: Path, domain: str) -> list[Message]:
    """Every stored message whose Message-ID is in the sending domain."""
    box = mailbox.Maildir(str(maildir), create=False)
    found = []
    for key in box.iterkeys():
        try:
            msg = box.get_message(key)
        except FileNotFoundError:  # pragma: no cover - a file moved while listing
            continue
        if str(msg.get("Message-ID", "")).endswith(f"@{domain}>"):
            found.append(msg)
    return found
