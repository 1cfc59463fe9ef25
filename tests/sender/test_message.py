"""What lands in the mailbox: DKIM (verified by dkimpy), RFC 8058 headers, footer, tracking."""

from __future__ import annotations

import base64
import re
import subprocess
import sys
from email.message import Message
from html import unescape
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import dkim
import pytest
import sqlalchemy as sa

from murmur.db.tables import campaigns, dkim_keys, emails
from murmur.domain.dkim import dns_value, load_key, store_key
from murmur.domain.sending import counters
from murmur.events import email_record_id_from_message_id
from murmur.settings import get_settings
from murmur.tracking import TrackingIds, verify_click, verify_unsubscribe
from sender.app import renderer_factory
from sender.store import PgStore
from tests.sender.conftest import MakeCampaign, messages_for
from tests.sender.helpers import LINKS, TRACKING_SECRET, real_manager, worker_env

pytestmark = pytest.mark.integration
SECRET = "a-test-secret-key-of-enough-length"
MJML = """<mjml><mj-head><mj-style>.hi { color: #123456 }</mj-style></mj-head><mj-body>
<mj-section><mj-column>
<mj-text css-class="hi">Hello {{ first_name }} ({{ custom_fields.plan }})</mj-text>
<mj-button href="https://example.com/buy?id=1&amp;z=2">Buy</mj-button>
</mj-column></mj-section></mj-body></mjml>"""


def _raw(msg: Message) -> bytes:
    for name in ("X-Sink-Mail-From", "X-Sink-Rcpt-To"):  # added by the sink after delivery
        del msg[name]
    return msg.as_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def _parts(msg: Message) -> dict[str, str]:
    out = {}
    for part in msg.walk():
        if not part.is_multipart():
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            out[part.get_content_type()] = payload.decode()
    return out


def _send_signed(
    db_engine: sa.Engine, c_make: MakeCampaign, smtp_url: str, algorithm: str, html: str
) -> tuple[list[Message], str]:
    c = c_make(n=6, refused_each=1, html=html)
    with db_engine.begin() as conn:
        key = store_key(conn, c.account_id, c.domain, "s1", algorithm, SECRET)
    settings = get_settings(secret_key=SECRET)
    store = PgStore(db_engine)
    factory = renderer_factory(db_engine, store, settings, LINKS)
    real_manager(db_engine, smtp_url, renderer_for=factory).run(c.campaign_id)
    return c, dns_value(key.algorithm, key.public_key)  # type: ignore[return-value]


@pytest.mark.parametrize("algorithm", ["rsa", "ed25519"])
def test_mail_carries_a_dkim_signature_that_dkimpy_verifies(
    db_engine: sa.Engine, make_campaign: MakeCampaign, smtp_url: str, maildir: Path, algorithm: str
) -> None:
    c, record = _send_signed(db_engine, make_campaign, smtp_url, algorithm, MJML)
    found = messages_for(maildir, c.domain)  # type: ignore[attr-defined]
    assert len(found) == 6

    def dnsfunc(name: bytes, timeout: int = 5) -> bytes:
        assert name == f"s1._domainkey.{c.domain}.".encode()  # type: ignore[attr-defined]
        return record.encode()

    for msg in found:
        assert f"a={algorithm}-sha256" in str(msg["DKIM-Signature"]).replace("\n", "")
        assert dkim.verify(_raw(msg), dnsfunc=dnsfunc)
    tampered = _raw(found[0]).replace(b"Subject: Hi", b"Subject: Ho")
    assert not dkim.verify(tampered, dnsfunc=dnsfunc)


def test_headers_footer_text_part_and_tracking_links(
    db_engine: sa.Engine, make_campaign: MakeCampaign, smtp_url: str, maildir: Path
) -> None:
    c, _ = _send_signed(db_engine, make_campaign, smtp_url, "rsa", MJML)
    msg = messages_for(maildir, c.domain)[0]  # type: ignore[attr-defined]
    email_id = email_record_id_from_message_id(str(msg["Message-ID"]))
    assert email_id is not None and str(msg["X-Murmur-Email-Id"]) == str(email_id)
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    https, mailto = re.findall(r"<([^>]+)>", str(msg["List-Unsubscribe"]))
    assert https.startswith("https://track.example.net/u/") and mailto.startswith("mailto:")
    with db_engine.connect() as conn:
        contact_id = conn.execute(
            sa.select(emails.c.contact_id).where(emails.c.email_record_id == email_id)
        ).scalar_one()
    ids = TrackingIds(email_id, c.account_id, c.campaign_id, contact_id)  # type: ignore[attr-defined]
    assert verify_unsubscribe(TRACKING_SECRET, https.rsplit("/", 1)[1]) == ids
    assert str(msg["Feedback-ID"]).startswith(f"{c.campaign_id}:")  # type: ignore[attr-defined]
    parts = _parts(msg)
    html, text = parts["text/html"], parts["text/plain"]
    assert "color:#123456" in html.replace(" ", "")  # MJML compiled, CSS inlined
    assert "@media" in html  # style tags kept for responsive rules
    assert "1 Test Street, Springfield" in html and "1 Test Street, Springfield" in text
    assert https in html  # footer unsubscribe link
    clicks = re.findall(r'href="(https://track\.example\.net/t/c/[^"]+)"', html)
    assert clicks, html
    click = urlsplit(unescape(clicks[0]))
    target = parse_qs(click.query)["u"][0]
    assert target == "https://example.com/buy?id=1&z=2"
    assert verify_click(TRACKING_SECRET, click.path.rsplit("/", 1)[1], target) == ids
    assert re.search(r'<img src="https://track\.example\.net/t/o/[^"]+\.gif"', html)
    assert "Hello First" in text and "Unsubscribe" in html


def test_a_domain_without_a_key_sends_unsigned_with_a_warning_on_the_campaign(
    db_engine: sa.Engine, make_campaign: MakeCampaign, smtp_url: str, maildir: Path
) -> None:
    c = make_campaign(n=3, refused_each=0)
    settings = get_settings(secret_key=SECRET)
    factory = renderer_factory(db_engine, PgStore(db_engine), settings, LINKS)
    real_manager(db_engine, smtp_url, renderer_for=factory).run(c.campaign_id)
    found = messages_for(maildir, c.domain)
    assert len(found) == 3 and all(m["DKIM-Signature"] is None for m in found)
    with db_engine.connect() as conn:
        reason = conn.execute(
            sa.select(campaigns.c.status_reason).where(campaigns.c.campaign_id == c.campaign_id)
        ).scalar_one()
    assert reason is not None and "no DKIM key" in reason and c.domain in reason


def test_a_render_error_for_one_contact_fails_that_email_and_not_the_batch(
    db_engine: sa.Engine, make_campaign: MakeCampaign, smtp_url: str, maildir: Path
) -> None:
    html = "<p>{{ 100 // custom_fields.divisor }}</p>"
    c = make_campaign(n=5, refused_each=0, html=html)
    merge = sa.text(
        "update contacts set custom_fields = custom_fields || cast(:v as jsonb)"
        " where account_id = :a and (cast(:e as text) is null or email = :e)"
    )
    with db_engine.begin() as conn:
        conn.execute(merge, {"v": '{"divisor": 4}', "a": c.account_id, "e": None})
        conn.execute(merge, {"v": '{"divisor": 0}', "a": c.account_id, "e": f"c2@r-{c.domain}"})
    pipe = real_manager(db_engine, smtp_url).run(c.campaign_id)
    assert pipe.outcome == "sent" and pipe.sent == 4 and pipe.failed == 1
    with db_engine.connect() as conn:
        assert counters(conn, c.campaign_id)["failed"] == 1
    received = {str(m["To"]) for m in messages_for(maildir, c.domain)}
    assert received == c.allowed - {f"c2@r-{c.domain}"}


def test_private_keys_are_stored_encrypted_and_load_back(
    db_engine: sa.Engine, make_account: object
) -> None:
    account_id, _ = make_account()  # type: ignore[operator]
    with db_engine.begin() as conn:
        key = store_key(conn, account_id, "Mail.Example.ORG", "sel", "rsa", SECRET)
        stored = conn.execute(
            sa.select(dkim_keys.c.private_key_encrypted).where(dkim_keys.c.account_id == account_id)
        ).scalar_one()
        assert (
            "PRIVATE KEY" not in stored
            and "PRIVATE KEY" not in base64.b64encode(stored.encode()).decode()
        )
        loaded = load_key(conn, account_id, "mail.example.org", SECRET)
    assert loaded is not None and loaded.selector == "sel" and loaded.public_key == key.public_key


def test_the_keygen_command_prints_the_dns_record_and_refuses_bad_input(
    db_engine: sa.Engine, make_account: object, migrated_db_url: str, smtp_url: str, tmp_path: Path
) -> None:
    account_id, _ = make_account()  # type: ignore[operator]
    env = worker_env(migrated_db_url, smtp_url, str(tmp_path), MURMUR_SECRET_KEY=SECRET)
    cmd = [sys.executable, "-m", "murmur.cli", "dkim", "keygen"]
    ok = subprocess.run(
        [*cmd, "news.example.com", "--account", str(account_id), "--algorithm", "ed25519"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ok.returncode == 0, ok.stderr
    assert 'murmur._domainkey.news.example.com TXT "v=DKIM1; k=ed25519; p=' in ok.stdout
    bad = subprocess.run(
        [*cmd, "not a domain", "--account", str(account_id)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 2 and "not a domain name" in bad.stderr
    nokey = subprocess.run(
        [*cmd, "a.example.com", "--account", str(account_id)],
        env={**env, "MURMUR_SECRET_KEY": ""},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert nokey.returncode == 2 and "MURMUR_SECRET_KEY" in nokey.stderr
