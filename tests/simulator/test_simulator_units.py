"""The simulator's pieces against the real ones: the sender's messages, the receiver's parsers."""

from __future__ import annotations

import base64
import html
import json
import uuid
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from ingestion.providers.common import machine_open
from ingestion.providers.sendgrid import _one
from murmur.demo.content import SEND_CAMPAIGN, TEMPLATES
from murmur.stack.keys import SENDGRID_PRIVATE_KEY, ensure_keys, keys_dir, read_keys
from murmur.tracking import verify_click, verify_open, verify_unsubscribe
from sender.models import Campaign, Recipient
from sender.render.links import TrackingLinkMinter
from sender.render.message import CampaignRenderer
from simulator.config import Config, apply_overrides
from simulator.ledger import Ledger
from simulator.mail import _SRC, NotOurs, Sent, parse_message
from simulator.plan import APPLE_MPP_AGENT, HUMAN_AGENTS, Step, plan_for
from simulator.sendgrid import SIGNATURE_HEADER, TIMESTAMP_HEADER, Signer, event_for

SECRET = "simulator-test-secret"
BASE = "http://127.0.0.1:9"
ACCOUNT = uuid.UUID(int=5)


def _message(email: str, record: int = 41) -> bytes:
    template = next(t for t in TEMPLATES if t.name == SEND_CAMPAIGN)
    campaign = Campaign(
        campaign_id=17,
        account_id=ACCOUNT,
        subject=template.subject,
        from_name="Demo",
        from_email="news@demo.murmuration.dev",
        reply_to=None,
        body_html=template.body_html,
        body_text=None,
        postal_address="1 Starling Way",
    )
    render = CampaignRenderer(campaign, TrackingLinkMinter(BASE, SECRET))
    out = render(Recipient(record, 99, email, "Ana", "Silva", {"plan": "pro"}))
    return b"X-Sink-Rcpt-To: " + email.encode() + b"\r\n" + out.data


def _config(tmp_path: Path, **extra: object) -> Config:
    base = Config(tmp_path / "maildir", tmp_path / "sim", BASE, tmp_path / "key.pem")
    return apply_overrides(base, dict(extra))


def test_a_rendered_message_yields_its_ids_and_the_real_tracking_urls() -> None:
    sent = parse_message("k1", _message("ana.silva@icloud.com"))
    assert (sent.email_record_id, sent.campaign_id, sent.recipient) == (
        41,
        17,
        "ana.silva@icloud.com",
    )
    assert sent.domain == "icloud.com" and sent.one_click
    assert sent.open_url and verify_open(SECRET, sent.open_url.rsplit("/", 1)[1][:-4])
    assert len(sent.click_urls) == 3  # the button and two links; not the unsubscribe link
    for url in sent.click_urls:
        token, _, target = url.removeprefix(f"{BASE}/t/c/").partition("?u=")
        from urllib.parse import unquote

        assert verify_click(SECRET, token, unquote(target)) is not None
    assert sent.unsubscribe_url and verify_unsubscribe(
        SECRET, sent.unsubscribe_url.rsplit("/", 1)[1]
    )
    with pytest.raises(NotOurs):
        parse_message("k2", b"From: a@b.c\r\nTo: d@e.f\r\n\r\nhello\r\n")


def test_plans_repeat_for_a_seed_and_follow_the_rates(tmp_path: Path) -> None:
    config = _config(tmp_path)
    sent = parse_message("k", _message("x@gmail.com"))
    assert plan_for(sent, config) == plan_for(sent, config)
    kinds: Counter[str] = Counter()
    differ = 0
    for record in range(4000):
        one = replace(sent, email_record_id=record)
        steps = plan_for(one, config)
        differ += steps != plan_for(one, replace(config, seed=config.seed + 1))
        kinds.update({s.kind for s in steps})
        delivered = [s.at for s in steps if s.kind == "delivered"]
        later = [s.at for s in steps if s.kind in ("open", "click", "spamreport", "unsubscribe")]
        assert not later or (delivered and min(later) >= delivered[0])
    assert differ > 1000
    # Gmail: hard bounces at 0.8 × 2%, opens at 1.1 × 27% of the delivered
    assert 40 < kinds["bounce_hard"] < 100
    assert 0.22 < kinds["open"] / kinds["delivered"] < 0.38
    assert kinds["machine_open"] == 0 and kinds["spamreport"] >= 1


def test_apple_recipients_get_machine_opens_the_receiver_classifies_as_such(tmp_path: Path) -> None:
    config = _config(tmp_path)
    sent = parse_message("k", _message("x@me.com"))
    agents: Counter[str | None] = Counter()
    for record in range(500):
        for step in plan_for(replace(sent, email_record_id=record), config):
            if step.kind in ("machine_open", "open"):
                agents[step.user_agent] += 1
    assert set(agents) == {APPLE_MPP_AGENT} and agents[APPLE_MPP_AGENT] > 400
    assert machine_open(APPLE_MPP_AGENT)
    assert not any(machine_open(agent) for agent in HUMAN_AGENTS)


@pytest.mark.parametrize(
    ("kind", "etype", "bounce"),
    [
        ("delivered", "delivery", None),
        ("deferred", "deferral", None),
        ("bounce_hard", "bounce", "hard"),
        ("bounce_soft", "bounce", "soft"),
        ("spamreport", "complaint", None),
    ],
)
def test_webhook_events_parse_as_sendgrid_events_and_the_signature_verifies(
    tmp_path: Path, kind: str, etype: str, bounce: str | None
) -> None:
    ensure_keys(tmp_path)
    signer = Signer(keys_dir(tmp_path) / SENDGRID_PRIVATE_KEY)
    sent = parse_message("k", _message("someone@yahoo.com", record=1234))
    item = event_for(7, sent, Step(1.0, kind, 3))  # type: ignore[arg-type]
    assert item == event_for(7, sent, Step(1.0, kind, 3), now=item["timestamp"])  # type: ignore[arg-type]
    (event,) = _one(item)
    assert (event.type, event.bounce_type if bounce else None) == (etype, bounce)
    assert event.email_record_id == 1234 and event.recipient == "someone@yahoo.com"
    if kind.startswith("bounce"):
        assert "yahoo" in (event.diagnostic or "")
    body = json.dumps([item]).encode()
    headers = signer.headers(body)
    der = base64.b64decode(read_keys(tmp_path)["MURMUR_SENDGRID_WEBHOOK_PUBLIC_KEY"])
    public = serialization.load_der_public_key(der)
    assert isinstance(public, ec.EllipticCurvePublicKey)
    signed = headers[TIMESTAMP_HEADER].encode() + body
    public.verify(base64.b64decode(headers[SIGNATURE_HEADER]), signed, ec.ECDSA(hashes.SHA256()))


def test_the_ledger_counts_outcomes_as_the_mart_does(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.json", seed=1)
    plans = {
        1: ["delivered", "machine_open", "click"],
        2: ["delivered", "open", "open"],
        3: ["bounce_hard"],
        4: ["deferred", "bounce_soft"],
        5: ["deferred", "delivered", "spamreport"],
        6: ["delivered", "unsubscribe"],
    }
    for record, kinds in plans.items():
        ledger.message(9, record, len(kinds))
        for i, kind in enumerate(kinds):
            ledger.posted(9, record, Step(0.0, kind, i))  # type: ignore[arg-type]
    ledger.write()
    data = json.loads((tmp_path / "ledger.json").read_text())
    assert data["pending"] == 0
    assert data["campaigns"]["9"]["outcomes"] == {
        "bounced": 2,
        "complained": 1,
        "delivered": 4,
        "hard_bounced": 1,
        "sends": 6,
        "soft_bounced": 1,
        "total_clicks": 1,
        "total_opens": 3,
        "unique_clicks": 1,
        "unique_human_opens": 1,
        "unique_opens": 2,
        "unsubscribed": 1,
    }


def test_overrides_are_checked(tmp_path: Path) -> None:
    config = _config(tmp_path, rates={"hard_bounce": 0.5}, delays={"open": [0, 1]}, time_scale=0)
    assert (config.rates.hard_bounce, config.delays.open, config.time_scale) == (0.5, (0, 1), 0)
    for bad in (
        {"rates": {"hard_bounce": 2}},
        {"rates": {"nope": 0.1}},
        {"delays": {"open": [3, 1]}},
        {"x": 1},
    ):
        with pytest.raises(ValueError):
            apply_overrides(config, bad)


def _full_parse(key: str, raw: bytes) -> Sent:
    """What parse_message returned with the whole message through the feed parser."""
    from email import message_from_bytes

    from simulator.mail import _html_part

    msg = message_from_bytes(raw)
    fast = parse_message(key, raw)
    body = _html_part(msg)
    opens = [html.unescape(m.group(2)) for m in _SRC.finditer(body)]
    return replace(fast, open_url=next((u for u in opens if "/t/o/" in u), None))


@pytest.mark.parametrize("line_end", [b"\r\n", b"\n"])
def test_the_fast_parse_finds_what_the_full_mime_parse_finds(line_end: bytes) -> None:
    raw = _message("ana.silva@gmail.com").replace(b"\r\n", line_end)
    sent = parse_message("k", raw)
    assert sent == _full_parse("k", raw)
    assert sent.open_url and len(sent.click_urls) == 3
    # quoted-printable HTML, and a nested multipart (the full parser's job): the same URLs
    text = '<p><a href=3D"http://x/t/c/abc?u=3Dhttps%3A%2F%2Fe.com">go</a><img src=3D"http://x/t/o/tok.gif"></p>'
    qp = (
        b'X-Murmur-Email-Id: 5\nTo: a@b.com\nContent-Type: multipart/alternative; boundary="b1"\n\n'
        b"--b1\nContent-Type: text/plain\n\nhi\n--b1\nContent-Type: text/html; charset=utf-8\n"
        b"Content-Transfer-Encoding: quoted-printable\n\n" + text.encode() + b"\n--b1--\n"
    )
    assert parse_message("q", qp).click_urls == ("http://x/t/c/abc?u=https%3A%2F%2Fe.com",)
    assert parse_message("q", qp).open_url == "http://x/t/o/tok.gif"
    nested = (
        qp.replace(b'alternative; boundary="b1"', b'mixed; boundary="b0"').replace(
            b"\n\n--b1\n",
            b'\n\n--b0\nContent-Type: multipart/alternative; boundary="b1"\n\n--b1\n',
            1,
        )
        + b"--b0--\n"
    )
    assert parse_message("n", nested).open_url == "http://x/t/o/tok.gif"
