"""A plain-text part from HTML: paragraphs and line breaks kept, links as `text (url)`."""

from __future__ import annotations

import re
from html import unescape
from html.parser import HTMLParser

_BLOCK = frozenset(
    {"p", "div", "br", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6", "table", "section"}
)
_SKIP = frozenset({"style", "script", "head", "title"})
_NAME = r"[a-zA-Z][-.a-zA-Z0-9:_]*"
_ATTR = re.compile(
    r"""\s+([a-zA-Z_:][-.a-zA-Z0-9_:]*)(?:\s*=\s*("[^"]*"|'[^']*'|[^\s"'=<>`/]+(?!/)))?"""
)
_START = re.compile(rf"<(?P<tag>{_NAME})(?P<attrs>(?:{_ATTR.pattern})*)\s*(?P<close>/?)>")
_END = re.compile(rf"</({_NAME})\s*>")
_COMMENT = re.compile(r"<!--.*?--\s*>", re.DOTALL)
_RAW_END = {t: re.compile(rf"</\s*{t}\s*>", re.IGNORECASE) for t in ("script", "style")}
_DOCTYPE = re.compile(r"<!doctype[^>]*>", re.IGNORECASE)


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip = 0
        self.href: list[str | None] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self.skip += 1
        elif tag in _BLOCK:
            self.parts.append("\n")
        elif tag == "a":
            self.href.append(dict(attrs).get("href"))

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self.skip = max(0, self.skip - 1)
        elif tag in _BLOCK:
            self.parts.append("\n")
        elif tag == "a" and self.href:
            href = self.href.pop()
            if href and href.startswith(("http://", "https://")):
                self.parts.append(f" ({href})")

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.parts.append(re.sub(r"\s+", " ", data))


def _fast_feed(parser: _Text, html: str) -> bool:
    """Tokenise well-formed HTML into `parser` as HTMLParser would, several times faster.

    False on anything unusual (a stray `<`, a marked section, an unclosed comment): the caller
    then parses the whole document again with HTMLParser.
    """
    at, end = 0, len(html)
    while at < end:
        lt = html.find("<", at)
        if lt < 0:
            lt = end
        if lt > at:
            data = html[at:lt]
            parser.handle_data(unescape(data) if "&" in data else data)
        if lt == end:
            break
        m = _START.match(html, lt)
        if m is not None:
            tag = m.group("tag").lower()
            attrs = (  # only a link's attributes are read
                [(a[1].lower(), _attr_value(a[2])) for a in _ATTR.finditer(m.group("attrs"))]
                if tag == "a"
                else []
            )
            parser.handle_starttag(tag, attrs)
            at = m.end()
            if m.group("close"):
                parser.handle_endtag(tag)
            elif tag in ("script", "style"):
                close = _RAW_END[tag].search(html, at)
                if close is None:
                    return False
                parser.handle_endtag(tag)  # the raw content is skipped (both are in _SKIP)
                at = close.end()
            continue
        m = _END.match(html, lt) or _COMMENT.match(html, lt) or _DOCTYPE.match(html, lt)
        if m is None:
            return False
        if m.re is _END:
            parser.handle_endtag(m.group(1).lower())
        at = m.end()
    return True


def _attr_value(raw: str | None) -> str | None:
    if raw is None:
        return None
    if raw[:1] in ("'", '"'):
        raw = raw[1:-1]
    return unescape(raw) if raw else raw


def html_to_text(html: str) -> str:
    parser = _Text()
    if not _fast_feed(parser, html):
        parser = _Text()
        parser.feed(html)
        parser.close()
    return _finish("".join(parser.parts))


def _finish(raw: str) -> str:
    lines = (line.strip() for line in raw.splitlines())
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"


_State = tuple[int, tuple[str | None, ...]]
_CUT = re.compile(r"</?(?:div|p|td|tr|table|a)[\s>]")  # where MJML and HTML copy is cut
_FAILED: tuple[str, _State] = ("", (-1, ()))  # remembered: this piece does not parse alone


class TextPart:
    """`html_to_text` for many bodies of one template, remembering the pieces they share.

    The body is cut into pieces before common block tags and links; each piece's text is
    remembered with the parser state it starts in (open skipped elements, open links). A
    campaign's recipients share most pieces (the head, the layout, the static copy), so only
    the personalised ones are parsed. A piece that cannot be parsed alone (a cut inside a
    comment, a style or an attribute) is joined with the next; if the fast tokenizer cannot
    take the body at all, the whole body goes through `html_to_text`. The result is always
    exactly `html_to_text(body)`. At most `max_pieces` pieces are remembered.
    """

    def __init__(self, max_pieces: int = 4096) -> None:
        self.max_pieces = max_pieces
        self.memo: dict[tuple[str, _State], tuple[str, _State]] = {}

    def __call__(self, html: str) -> str:
        cuts = [m.start() for m in _CUT.finditer(html)]
        cuts.append(len(html))
        memo = self.memo
        out: list[str] = []
        state: _State = (0, ())
        start = i = 0
        while i < len(cuts):
            piece = html[start : cuts[i]]
            found = memo.get((piece, state)) or self._parse(piece, state)
            while found is _FAILED and i + 1 < len(cuts):  # joined with the next piece
                i += 1
                piece = html[start : cuts[i]]
                found = memo.get((piece, state)) or self._parse(piece, state)
            if found is _FAILED:
                return html_to_text(html)
            out.append(found[0])
            state, start, i = found[1], cuts[i], i + 1
        return _finish("".join(out))

    def _parse(self, piece: str, state: _State) -> tuple[str, _State]:
        parser = _Text()
        parser.skip, parser.href = state[0], list(state[1])
        ok = _fast_feed(parser, piece)
        found = ("".join(parser.parts), (parser.skip, tuple(parser.href))) if ok else _FAILED
        if len(self.memo) >= self.max_pieces:
            self.memo.clear()
        self.memo[(piece, state)] = found
        return found
