"""`TextPart` (the per-campaign memo of the plain-text part) always equals `html_to_text`."""

from __future__ import annotations

import uuid

from hypothesis import given, settings
from hypothesis import strategies as st

from murmur.rendering.compile import compile_template
from murmur.rendering.links import TrackingLinkMinter
from murmur.rendering.message import MessageRenderer
from murmur.rendering.text import TextPart, html_to_text
from murmur.tracking import TrackingIds
from sender.models import Campaign, Recipient

MJML = """<mjml><mj-head><mj-style>.x { color: #333 }</mj-style></mj-head><mj-body>
<mj-section><mj-column>
<mj-text css-class="x">Hello {{ first_name }} {{ last_name }},</mj-text>
<mj-text>Your plan {{ custom_fields.plan }} renews. <a href="https://e.example/a">More</a></mj-text>
<mj-button href="https://example.com/renew">Renew</mj-button>
</mj-column></mj-section></mj-body></mjml>"""

TRICKY = [
    "<p>a</p><!-- <div> inside a comment <p> --><p>b</p>",
    "<div title='<div x'>t</div><p>u</p>",
    "<style>p > a { color: red } <div </style><div>x</div>",
    "<script>if (a <div) {}</script><td>y</td>",
    "<DIV>upper</DIV><P>case</P><div>lower</div>",
    "<a href='https://x.example/1'>one <div>two</div></a><p>after</p>",
    "<div>unclosed <a href='https://x.example/2'>link<p>next",
    "<div>a < b</div><p>c &amp; d</p>",
    "<!--[if mso | IE]><table><tr><td><![endif]--><div>x</div><!--[if mso]></td><![endif]-->",
    "text only, no tags",
    "",
    "<div>a</div>" * 50,
]


def test_tricky_bodies_give_exactly_html_to_text() -> None:
    part = TextPart()
    for _ in range(2):  # a second pass runs from the memo
        for html in TRICKY:
            assert part(html) == html_to_text(html), html


FRAGMENTS = (
    "<div>|</div>|<p>|</p>|<td>|</td>|<tr>|<table>|<br>|<a href='https://x.example/p'>|</a>|"
    '<a>|<style>|</style>|<!--|-->|<b>|</b>|text| |\n|&amp;|<|>|\'|<div class="q">|<p/>|'
    "<script>x</script>|<head>|</head>"
).split("|")


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(FRAGMENTS), max_size=40))
def test_any_sequence_of_fragments_gives_exactly_html_to_text(tokens: list[str]) -> None:
    html = "".join(tokens)
    part = TextPart(max_pieces=8)  # tiny: the memo is cleared while in use
    assert part(html) == html_to_text(html)
    assert part(html) == html_to_text(html)
    assert len(part.memo) <= 8


def test_a_campaigns_text_parts_match_and_share_most_pieces() -> None:
    campaign = Campaign(1, uuid.uuid4(), "Hi", "B", "news@b.example", None, MJML, None, "1 Road")
    renderer = MessageRenderer(campaign, TrackingLinkMinter("https://t.example", "k"))
    part = TextPart()
    compiled = compile_template("s", MJML, None, "1 Road").html
    for i in range(1, 40):
        recipient = Recipient(i, i, f"u{i}@r.example", f"F{i}", "L", {"plan": f"p{i}"})
        html = renderer.parts(recipient, TrackingIds(i)).html
        assert part(html) == html_to_text(html)
    assert part(compiled) == html_to_text(compiled)
    # the shared pieces are remembered once; each recipient adds only its personalised ones
    assert len(part.memo) < 40 * 12
