"""The fast paths (DKIM body canonicalisation, html_to_text) give what the general ones give."""

from __future__ import annotations

import base64
import itertools
import re

import mjml
import pytest

from sender.dkim_sign import _WSP, relaxed_body
from sender.render.message import _b64
from sender.render.text import _fast_feed, _Text, html_to_text


def _general_body(body: bytes) -> bytes:  # RFC 6376 3.4.4, line by line
    lines = [_WSP.sub(b" ", line).rstrip(b" ") for line in body.split(b"\r\n")]
    while lines and lines[-1] == b"":
        lines.pop()
    return b"\r\n".join(lines) + b"\r\n" if lines else b""


def _general_text(html: str) -> str:
    parser = _Text()
    parser.feed(html)
    parser.close()
    lines = (line.strip() for line in "".join(parser.parts).splitlines())
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip() + "\n"


def test_relaxed_body_matches_the_line_by_line_canonicalisation() -> None:
    pieces = [b"a", b" ", b"\t", b"\r", b"\n", b"\r\n", b"="]
    for size in range(6):
        for combo in itertools.product(pieces, repeat=size):
            body = b"".join(combo)
            assert relaxed_body(body) == _general_body(body), body


MJML = (
    "<mjml><mj-head><mj-style>.x { color: #333 }</mj-style></mj-head><mj-body><mj-section>"
    "<mj-column><mj-text css-class='x'>Hi {{ first_name }} &amp; co</mj-text>"
    "<mj-button href='https://example.com/a?b=1&amp;c=2'>Go</mj-button>"
    "</mj-column></mj-section></mj-body></mjml>"
)
DOCUMENTS = [
    mjml.mjml2html(MJML),
    "<p>Hi</p><p>Go <a href='https://x.example/a'>here</a></p>",
    "<P CLASS=x>Up</P><A HREF='https://X.example/&quot;'>x</A><br/><br>",
    "<a href=\"http://q\" href='https://r'>twice</a><style>p{}</style><script>a<b</script>t",
    "<div>\n  a\t b  </div>&nbsp;&copy 2024 &#x41;<!-- c -- ><p>after",
    # not for the fast path: HTMLParser decides
    "<p>a < b</p>",
    "<p>unclosed <!-- comment",
    "<a href=x/>y</a>",
    "<![CDATA[x]]><p>y</p>",
]


@pytest.mark.parametrize("document", DOCUMENTS)
def test_html_to_text_matches_htmlparser(document: str) -> None:
    assert html_to_text(document) == _general_text(document)


def test_the_fast_path_takes_mjml_output_and_refuses_a_stray_bracket() -> None:
    assert _fast_feed(_Text(), DOCUMENTS[0])
    assert not _fast_feed(_Text(), "<p>a < b</p>")


def test_base64_parts_match_encodebytes_with_crlf() -> None:
    for size in (0, 1, 56, 57, 58, 114, 1000):
        text = "é" * (size // 2) + "x" * (size - size // 2)
        expected = base64.encodebytes(text.encode()).replace(b"\n", b"\r\n")
        assert _b64(text) == expected, size
