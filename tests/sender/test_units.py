"""Pure helpers: named queries, tracking tokens, DKIM canonicalization, SMTP URLs, text part."""

from __future__ import annotations

import pytest

from sender.dkim_sign import relaxed_body, relaxed_header
from sender.messengers.smtp import SmtpConfig
from sender.queries import load, parse
from sender.render.links import HmacLinkMinter
from sender.render.text import html_to_text


def test_queries_load_by_name_and_a_duplicate_name_is_an_error() -> None:
    queries = load("ledger")
    assert "for update skip locked" in queries["claim-batch"]
    assert {"mark-sent", "mark-failed", "release", "skip-queued"} <= set(queries)
    with pytest.raises(ValueError, match="twice"):
        parse("-- name: a\nselect 1;\n-- name: a\nselect 2;")


def test_a_tampered_token_does_not_verify_and_the_click_token_binds_the_url() -> None:
    minter = HmacLinkMinter("https://t.example/", b"k")
    url = minter.click_url(5, "https://shop.example/x")
    token = url.rsplit("/", 1)[1]
    assert minter.verify(token) == {"e": 5, "k": "c", "u": "https://shop.example/x"}
    body, _, sig = token.partition(".")
    assert minter.verify(body[:-1] + ("A" if body[-1] != "A" else "B") + "." + sig) is None
    assert HmacLinkMinter("https://t.example", b"other").verify(token) is None


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
