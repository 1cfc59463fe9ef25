"""Preview and test-send: the sender's exact message for one contact, outside the ledger."""

from __future__ import annotations

import dataclasses
import mailbox
import re
import uuid
from collections.abc import Iterator
from email.header import decode_header, make_header
from email.message import Message
from html import unescape
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import dkim
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from murmur.api.app import create_app
from murmur.db.tables import audit_log, campaigns, contacts, emails, segments
from murmur.domain.campaign_content import campaign_content
from murmur.domain.campaigns import get_campaign
from murmur.domain.dkim import dns_value, store_key
from murmur.domain.templates import create_template
from murmur.events import email_record_id_from_message_id
from murmur.net import free_port
from murmur.rendering.links import TrackingLinkMinter
from murmur.rendering.message import MessageRenderer
from murmur.settings import get_settings
from murmur.stack.manager import Stack
from murmur.tracking import TrackingIds, verify_click, verify_open
from tests.murmur.conftest import MakeAccount, auth

pytestmark = pytest.mark.integration
TRACKING_BASE = "https://track.preview.example"
TRACKING_SECRET = "preview-tracking-secret"
SECRET_KEY = "a-preview-secret-key-of-enough-length"
MJML = """<mjml><mj-head><mj-style>.hi { color: #123456 }</mj-style></mj-head><mj-body>
<mj-section><mj-column>
<mj-text css-class="hi">Hello {{ first_name }} ({{ custom_fields.plan | default("-") }})</mj-text>
<mj-text>{{ 10 // custom_fields.get("divisor", 1) }} left</mj-text>
<mj-button href="https://example.com/buy?id=1&amp;z=2">Buy</mj-button>
</mj-column></mj-section></mj-body></mjml>"""


def _client(migrated_db_url: str, state: Path, smtp_url: str) -> TestClient:
    settings = get_settings(
        postgres_url=migrated_db_url,
        state_dir=state,
        smtp_url=smtp_url,
        tracking_base_url=TRACKING_BASE,
        tracking_secret=TRACKING_SECRET,
        secret_key=SECRET_KEY,
    )
    return TestClient(create_app(settings), raise_server_exceptions=False)


@pytest.fixture(scope="module")
def client(
    migrated_db_url: str, smtp_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    with _client(migrated_db_url, tmp_path_factory.mktemp("preview"), smtp_url) as c:
        yield c


@pytest.fixture(scope="module")
def maildir(local_stack: Stack, smtp_url: str) -> Path:
    return Path(local_stack.service("smtp").maildir)  # type: ignore[attr-defined]


@dataclasses.dataclass
class Setup:
    account_id: uuid.UUID
    key: str
    campaign_id: int
    contact_id: int
    domain: str


def _setup(db_engine: sa.Engine, make_account: MakeAccount, role: str = "editor") -> Setup:
    domain = f"{uuid.uuid4().hex[:10]}.example"
    account_id, key = make_account(role, default_from_email=f"news@{domain}")
    with db_engine.begin() as conn:
        contact_id = conn.execute(
            contacts.insert()
            .values(
                account_id=account_id,
                email=f"ada@r-{domain}",
                first_name="Ada",
                last_name="Lovelace",
                custom_fields={"plan": "pro", "divisor": 2},
            )
            .returning(contacts.c.contact_id)
        ).scalar_one()
        segment_id = conn.execute(
            segments.insert()
            .values(account_id=account_id, name="all", kind="criteria", definition={"all": []})
            .returning(segments.c.segment_id)
        ).scalar_one()
        template_id = create_template(
            conn,
            account_id,
            {"name": "t", "subject": "Hi {{ first_name }}", "body_html": MJML},
            "test",
        )["template_id"]
        campaign_id = conn.execute(
            campaigns.insert()
            .values(
                account_id=account_id,
                name="c",
                subject="Hi {{ first_name }}",
                template_id=template_id,
                segment_id=segment_id,
            )
            .returning(campaigns.c.campaign_id)
        ).scalar_one()
    return Setup(account_id, key, campaign_id, contact_id, domain)


def _preview(client: TestClient, s: Setup, contact_id: int | None = None) -> Any:
    query = "" if contact_id is None else f"?contact_id={contact_id}"
    return client.get(f"/api/v1/campaigns/{s.campaign_id}/preview{query}", headers=auth(s.key))


def test_the_preview_is_the_senders_message_for_that_contact(
    client: TestClient, db_engine: sa.Engine, make_account: MakeAccount
) -> None:
    s = _setup(db_engine, make_account, "viewer")
    got = _preview(client, s, s.contact_id)
    assert got.status_code == 200, got.text
    body = got.json()
    assert body["subject"] == "Hi Ada" and body["to"] == f"ada@r-{s.domain}"
    html, text = body["html"], body["text"]
    assert "Hello Ada (pro)" in html and "5 left" in html  # personalised
    assert "color:#123456" in html.replace(" ", "")  # MJML compiled, CSS inlined
    assert "1 Test Street, Springfield" in html and "Unsubscribe" in html  # the footer
    assert "Hello Ada (pro)" in text and "1 Test Street, Springfield" in text
    click = urlsplit(unescape(re.findall(rf'href="({TRACKING_BASE}/t/c/[^"]+)"', html)[0]))
    target = parse_qs(click.query)["u"][0]
    assert target == "https://example.com/buy?id=1&z=2"
    # the preview's tokens bind no email record: viewing it never counts as the contact's open
    assert verify_click(TRACKING_SECRET, click.path.rsplit("/", 1)[1], target) == TrackingIds(0)
    pixel = re.findall(rf'<img src="{TRACKING_BASE}/t/o/([^"]+)\.gif"', html)
    assert verify_open(TRACKING_SECRET, pixel[0]) == TrackingIds(0)
    headers = {h["name"]: h["value"] for h in body["headers"]}
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert headers["List-Unsubscribe"].startswith(f"<{TRACKING_BASE}/u/")
    assert headers["From"].endswith(f"<news@{s.domain}>")
    # the same renderer the sender runs gives the same parts for the same tokens
    with db_engine.connect() as conn:
        row = get_campaign(conn, s.account_id, s.campaign_id)
        assert row is not None
        content = campaign_content(conn, row)
    links = TrackingLinkMinter(TRACKING_BASE, TRACKING_SECRET)
    recipient = dataclasses.make_dataclass(
        "R", ["email_record_id", "contact_id", "email", "first_name", "last_name", "custom_fields"]
    )(0, s.contact_id, f"ada@r-{s.domain}", "Ada", "Lovelace", {"plan": "pro", "divisor": 2})
    parts = MessageRenderer(content, links).parts(recipient, TrackingIds(0))
    assert (parts.subject, parts.html, parts.text) == (body["subject"], html, text)


def test_without_a_contact_the_preview_uses_the_sample_contact(
    client: TestClient, db_engine: sa.Engine, make_account: MakeAccount
) -> None:
    s = _setup(db_engine, make_account, "viewer")
    got = _preview(client, s)
    assert got.status_code == 200, got.text
    assert got.json()["subject"] == "Hi Sample" and got.json()["contact_id"] is None


def test_preview_errors_name_the_contact_and_the_template(
    client: TestClient, db_engine: sa.Engine, make_account: MakeAccount
) -> None:
    s = _setup(db_engine, make_account)
    other = _setup(db_engine, make_account)
    assert _preview(client, s, other.contact_id).status_code == 404  # another account's contact
    foreign = client.get(f"/api/v1/campaigns/{other.campaign_id}/preview", headers=auth(s.key))
    assert foreign.status_code == 404
    with db_engine.begin() as conn:
        conn.execute(
            contacts.update()
            .where(contacts.c.contact_id == s.contact_id)
            .values(custom_fields={"divisor": 0})
        )
    broken = _preview(client, s, s.contact_id)
    assert broken.status_code == 422
    assert "ZeroDivisionError" in str(broken.json()) and str(s.contact_id) in str(broken.json())
    assert _preview(client, s, 0).status_code == 422  # ids start at 1


def _mailbox_messages(maildir: Path, domain: str) -> list[Message]:
    box = mailbox.Maildir(str(maildir), create=False)
    found = []
    for key in box.iterkeys():
        msg = box.get_message(key)
        if str(msg.get("Message-ID", "")).endswith(f"@{domain}>"):
            found.append(msg)
    return found


def test_a_test_send_is_signed_prefixed_audited_and_never_touches_the_ledger(
    client: TestClient, db_engine: sa.Engine, make_account: MakeAccount, maildir: Path
) -> None:
    s = _setup(db_engine, make_account)
    with db_engine.begin() as conn:
        key = store_key(conn, s.account_id, s.domain, "s1", "rsa", SECRET_KEY)
    to = [f"qa1@{s.domain}", f"qa2@{s.domain}", f"qa1@{s.domain}"]  # duplicates collapse
    sent = client.post(
        f"/api/v1/campaigns/{s.campaign_id}/test-send",
        headers=auth(s.key),
        json={"addresses": to, "contact_id": s.contact_id},
    )
    assert sent.status_code == 200, sent.text
    body = sent.json()
    assert body["subject"] == "[Test] Hi Ada" and body["warning"] is None
    assert [(r["address"], r["accepted"]) for r in body["results"]] == [
        (f"qa1@{s.domain}", True),
        (f"qa2@{s.domain}", True),
    ]
    found = _mailbox_messages(maildir, s.domain)
    assert sorted(str(m["To"]) for m in found) == [f"qa1@{s.domain}", f"qa2@{s.domain}"]
    record = dns_value(key.algorithm, key.public_key)
    for msg in found:
        assert str(msg["Subject"]) == "[Test] Hi Ada" and msg["X-Murmur-Test"] == "1"
        assert msg["X-Murmur-Email-Id"] is None  # no email record: no event correlates
        assert email_record_id_from_message_id(str(msg["Message-ID"])) is None
        assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        for name in ("X-Sink-Mail-From", "X-Sink-Rcpt-To"):
            del msg[name]
        raw = msg.as_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        assert dkim.verify(raw, dnsfunc=lambda name, timeout=5: record.encode())
    with db_engine.connect() as conn:
        ledger = conn.execute(
            sa.select(sa.func.count()).where(emails.c.campaign_id == s.campaign_id)
        ).scalar_one()
        status = conn.execute(
            sa.select(campaigns.c.status).where(campaigns.c.campaign_id == s.campaign_id)
        ).scalar_one()
        entry = conn.execute(
            sa.select(audit_log.c.details).where(
                audit_log.c.account_id == s.account_id, audit_log.c.action == "campaign.test_send"
            )
        ).scalar_one()
    assert ledger == 0 and status == "draft"
    assert entry["accepted"] == 2 and entry["signed"] is True
    assert f"qa1@{s.domain}" not in str(entry)  # addresses are redacted in the audit log
    detail = client.get(f"/api/v1/campaigns/{s.campaign_id}", headers=auth(s.key)).json()
    assert detail["counters"]["total"] == 0


def test_test_send_refuses_viewers_too_many_or_bad_addresses_and_a_dead_relay(
    client: TestClient,
    db_engine: sa.Engine,
    make_account: MakeAccount,
    migrated_db_url: str,
    tmp_path: Path,
) -> None:
    s = _setup(db_engine, make_account)
    url = f"/api/v1/campaigns/{s.campaign_id}/test-send"
    _, viewer = make_account("viewer", account_id=s.account_id)
    one = {"addresses": [f"qa@{s.domain}"]}
    assert client.post(url, headers=auth(viewer), json=one).status_code == 403
    many = {"addresses": [f"qa{i}@{s.domain}" for i in range(11)]}
    too_many = client.post(url, headers=auth(s.key), json=many)
    assert too_many.status_code == 422 and "addresses" in str(too_many.json())
    bad = client.post(url, headers=auth(s.key), json={"addresses": ["not-an-address"]})
    assert bad.status_code == 422 and "addresses" in str(bad.json())
    none = client.post(url, headers=auth(s.key), json={"addresses": []})
    assert none.status_code == 422
    with _client(migrated_db_url, tmp_path, f"smtp://127.0.0.1:{free_port()}") as dead:
        refused = dead.post(url, headers=auth(s.key), json=one)
    assert refused.status_code == 502 and "cannot be used" in refused.json()["detail"]
    with db_engine.connect() as conn:
        audits = conn.execute(
            sa.select(sa.func.count()).where(
                audit_log.c.account_id == s.account_id, audit_log.c.action == "campaign.test_send"
            )
        ).scalar_one()
    assert audits == 0  # nothing was sent, nothing logged


def test_a_test_send_without_a_dkim_key_goes_out_unsigned_and_says_so(
    client: TestClient, db_engine: sa.Engine, make_account: MakeAccount, maildir: Path
) -> None:
    s = _setup(db_engine, make_account)
    sent = client.post(
        f"/api/v1/campaigns/{s.campaign_id}/test-send",
        headers=auth(s.key),
        json={"addresses": [f"qa@{s.domain}"]},
    )
    assert sent.status_code == 200, sent.text
    body = sent.json()
    assert body["subject"] == "[Test] Hi Sample"  # no contact given: the sample contact
    assert "no DKIM key" in body["warning"] and s.domain in body["warning"]
    (msg,) = _mailbox_messages(maildir, s.domain)
    assert msg["DKIM-Signature"] is None and str(msg["Subject"]) == "[Test] Hi Sample"


def test_a_non_ascii_address_goes_out_with_smtputf8(
    client: TestClient, db_engine: sa.Engine, make_account: MakeAccount, maildir: Path
) -> None:
    # Regression: smtplib raised UnicodeEncodeError on RCPT TO, answered as a misleading 422
    # ("no lone surrogates"); the address now goes with SMTPUTF8.
    s = _setup(db_engine, make_account)
    sent = client.post(
        f"/api/v1/campaigns/{s.campaign_id}/test-send",
        headers=auth(s.key),
        json={"addresses": [f"josé@{s.domain}", f"qa@{s.domain}"]},
    )
    assert sent.status_code == 200, sent.text
    assert [r["accepted"] for r in sent.json()["results"]] == [True, True]
    received = sorted(
        str(make_header(decode_header(str(m["X-Sink-Rcpt-To"]))))
        for m in _mailbox_messages(maildir, s.domain)
    )
    assert received == [f"josé@{s.domain}", f"qa@{s.domain}"]
