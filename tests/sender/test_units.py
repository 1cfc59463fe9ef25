"""Pure helpers: named queries, tracking tokens, DKIM canonicalization, SMTP URLs, text part."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from murmur.settings import Settings, SettingsError
from murmur.stack.keys import ensure_keys
from murmur.tracking import TrackingIds, verify_click, verify_open, verify_unsubscribe
from sender.app import link_minter
from sender.dkim_sign import relaxed_body, relaxed_header
from sender.messengers.smtp import SmtpConfig
from sender.queries import load, parse
from sender.render.links import TrackingLinkMinter
from sender.render.text import html_to_text


def test_queries_load_by_name_and_a_duplicate_name_is_an_error() -> None:
    queries = load("ledger")
    assert "for update skip locked" in queries["claim-batch"]
    assert {"mark-sent", "mark-failed", "release", "skip-queued"} <= set(queries)
    with pytest.raises(ValueError, match="twice"):
        parse("-- name: a\nselect 1;\n-- name: a\nselect 2;")


def test_the_minter_signs_murmur_tracking_tokens_that_bind_ids_and_url() -> None:
    ids = TrackingIds(5, uuid.uuid4(), 7, 9)
    minter = TrackingLinkMinter("https://t.example/", "k")
    click = urlsplit(minter.click_url(ids, "https://shop.example/x?a=1"))
    token = click.path.rsplit("/", 1)[1]
    assert (
        click.path.startswith("/t/c/") and click.query == "u=https%3A%2F%2Fshop.example%2Fx%3Fa%3D1"
    )
    assert verify_click("k", token, "https://shop.example/x?a=1") == ids
    assert verify_click("k", token, "https://evil.example/") is None
    assert verify_click("other", token, "https://shop.example/x?a=1") is None
    unsub = minter.unsubscribe_url(ids)
    assert unsub.startswith("https://t.example/u/")
    assert verify_unsubscribe("k", unsub.rsplit("/", 1)[1]) == ids
    pixel = minter.open_url(ids)
    assert pixel.endswith(".gif") and verify_open("k", pixel.rsplit("/", 1)[1][:-4]) == ids


def test_the_minter_refuses_an_empty_secret_or_a_non_http_base() -> None:
    with pytest.raises(ValueError, match="MURMUR_TRACKING_SECRET"):
        TrackingLinkMinter("https://t.example", "")
    with pytest.raises(ValueError, match="MURMUR_TRACKING_BASE_URL"):
        TrackingLinkMinter("t.example", "k")


def test_a_dispatch_without_a_tracking_secret_is_a_settings_error(tmp_path: Path) -> None:
    # Regression: a missing secret used to sign every link with an empty key (a warning only)
    bare = Settings(_env_file=None, state_dir=tmp_path, tracking_base_url="https://t.example")  # type: ignore[call-arg]
    with pytest.raises(SettingsError, match="MURMUR_TRACKING_SECRET"):
        link_minter(bare)
    no_base = Settings(_env_file=None, state_dir=tmp_path, tracking_secret="k")  # type: ignore[call-arg]
    with pytest.raises(SettingsError, match="MURMUR_TRACKING_BASE_URL"):
        link_minter(no_base)


def test_tracking_settings_resolve_from_the_running_local_stack(tmp_path: Path) -> None:
    keys = ensure_keys(tmp_path)
    (tmp_path / "stack.json").write_text(
        json.dumps({"services": {}, "urls": {"tracking_base_url": "http://127.0.0.1:8123"}})
    )
    settings = Settings(_env_file=None, state_dir=tmp_path).resolved()  # type: ignore[call-arg]
    assert settings.tracking_base_url == "http://127.0.0.1:8123"
    assert settings.tracking_secret is not None
    assert settings.tracking_secret.get_secret_value() == keys["MURMUR_TRACKING_SECRET"]
    explicit = Settings(_env_file=None, state_dir=tmp_path, tracking_secret="mine").resolved()  # type: ignore[call-arg]
    assert explicit.tracking_secret is not None
    assert explicit.tracking_secret.get_secret_value() == "mine"
    ids = TrackingIds(1)
    url = link_minter(settings).unsubscribe_url(ids)
    assert url.startswith("http://127.0.0.1:8123/u/")
    assert verify_unsubscribe(keys["MURMUR_TRACKING_SECRET"], url.rsplit("/", 1)[1]) == ids


def test_relaxed_canonicalization_follows_rfc_6376() -> None:
    assert relaxed_header(b"SubJect ", b" A  \r\n\tb \t c ") == b"subject:A b c\r\n"
    assert relaxed_body(b"a  b \r\n\r\n\r\n") == b"a b\r\n"
    assert relaxed_body(b"") == b""


def test_smtp_urls() -> None:
    plain = SmtpConfig.from_url("smtp://u%40x:p%3Aw@mail.example:2525?starttls=require")
    assert (plain.host, plain.port, plain.tls, plain.starttls) == (
        "mail.example",
        2525,
        False,
        "require",
    )
    assert (plain.username, plain.password) == ("u@x", "p:w")
    assert SmtpConfig.from_url("smtps://mail.example").port == 465
    with pytest.raises(ValueError, match="starttls"):
        SmtpConfig.from_url("smtp://h?starttls=maybe")
    with pytest.raises(ValueError, match="smtp://"):
        SmtpConfig.from_url("http://h")


def test_the_text_part_keeps_links_and_drops_styles() -> None:
    html = "<style>p{}</style><h1>Hi</h1><p>Go <a href='https://x.example/a'>here</a></p>"
    assert html_to_text(html) == "Hi\n\nGo here (https://x.example/a)\n"
