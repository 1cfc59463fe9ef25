"""Statement classifier for the local ClickHouse server.

The server must know, before executing anything, what kind of statement a request carries:
whether it produces a result (and in which format), whether it is an ``INSERT`` whose data
follows the query text (possibly binary), whether it changes session state (``SET``, ``USE``,
temporary tables), and whether the request smuggles several statements.

A hand-written scanner does this in one linear pass that respects comments, string literals,
quoted identifiers and heredocs. It never looks past the ``FORMAT <name>`` of a data insert, so
Native/Arrow payloads that follow are never scanned. Texts are scanned as latin-1 so that one
character is one byte and offsets index the raw request body directly.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

WORD, QUOTED, STRING, NUMBER, PUNCT = "word", "quoted", "string", "number", "punct"

_WORD_RUN = re.compile(r"[A-Za-z0-9_\x80-\xff]*")
_NUMBER_RUN = re.compile(r"[0-9A-Za-z_.]*(?:[eE][+-]?[0-9]+)?")
_HEREDOC_TAG = re.compile(r"\$[A-Za-z0-9_]*\$")
_SPACE = " \t\n\r\f\v"

RESULT_KEYWORDS = frozenset(
    {"SELECT", "WITH", "SHOW", "DESCRIBE", "DESC", "EXISTS", "EXPLAIN", "CHECK", "KILL", "FROM"}
)


class Incomplete(Exception):
    """The text ended inside a token (unterminated string, comment or identifier)."""


@dataclass(frozen=True, slots=True)
class Token:
    kind: str
    start: int
    end: int
    text: str

    @property
    def upper(self) -> str:
        return self.text.upper() if self.kind == WORD else ""


def _skip_block_comment(text: str, pos: int) -> int:
    depth = 1
    pos += 2
    while depth:
        close = text.find("*/", pos)
        if close < 0:
            raise Incomplete
        opening = text.find("/*", pos, close)
        if opening >= 0:
            depth += 1
            pos = opening + 2
        else:
            depth -= 1
            pos = close + 2
    return pos


def _skip_quoted(text: str, pos: int, quote: str) -> int:
    """Return the offset after the closing quote; backslash escapes and doubled quotes."""
    pos += 1
    n = len(text)
    q = -1
    while True:
        if q < pos:  # find the next quote only when an escape skipped past the known one
            q = text.find(quote, pos)
            if q < 0:
                raise Incomplete
        b = text.find("\\", pos, q)
        if b >= 0:
            pos = b + 2
            continue
        if q + 1 < n and text[q + 1] == quote:
            pos = q + 2
            continue
        return q + 1


def tokens(text: str, pos: int = 0) -> Iterator[Token]:
    """Yield tokens lazily; raise `Incomplete` if the text ends inside a token."""
    n = len(text)
    while pos < n:
        ch = text[pos]
        if ch in _SPACE:
            pos += 1
            continue
        if (ch == "-" and text.startswith("--", pos)) or ch == "#":
            nl = text.find("\n", pos)
            pos = n if nl < 0 else nl + 1
            continue
        if ch == "/" and text.startswith("/*", pos):
            pos = _skip_block_comment(text, pos)
            continue
        if ch == "'":
            end = _skip_quoted(text, pos, "'")
            yield Token(STRING, pos, end, text[pos:end])
        elif ch in '"`':
            end = _skip_quoted(text, pos, ch)
            yield Token(QUOTED, pos, end, text[pos:end])
        elif ch == "$" and (m := _HEREDOC_TAG.match(text, pos)):
            close = text.find(m.group(0), m.end())
            if close < 0:
                raise Incomplete
            end = close + len(m.group(0))
            yield Token(STRING, pos, end, text[pos:end])
        elif ch.isdigit():
            m2 = _NUMBER_RUN.match(text, pos + 1)
            end = m2.end() if m2 else pos + 1
            yield Token(NUMBER, pos, end, text[pos:end])
        elif ch.isalpha() or ch == "_" or ord(ch) >= 0x80:
            m3 = _WORD_RUN.match(text, pos + 1)
            end = m3.end() if m3 else pos + 1
            yield Token(WORD, pos, end, text[pos:end])
        else:
            end = pos + 1
            yield Token(PUNCT, pos, end, ch)
        pos = end


def unquote_identifier(token: Token) -> str:
    if token.kind != QUOTED:
        return token.text
    body = token.text[1:-1]
    quote = token.text[0]
    return re.sub(r"\\(.)", r"\1", body.replace(quote * 2, quote))


@dataclass(slots=True)
class Statement:
    """What the server needs to know about one request's SQL text.

    Attributes:
        keyword: first keyword, upper-cased ("" for an empty text).
        produces_result: whether ClickHouse would answer with a result set.
        format_name: the top-level ``FORMAT`` clause, if any.
        data_insert: ``INSERT ... FORMAT X`` whose data follows the text.
        insert_head_end: offset of the ``FORMAT`` keyword of a data insert.
        data_offset: offset where a data insert's payload starts.
        insert_settings: a data insert's head has its own ``SETTINGS`` clause.
        incomplete: the text ended before the statement could be classified.
        multi: more than one statement.
        temporary: ``CREATE TEMPORARY TABLE``.
        assignments: ``SET name = value`` pairs (value is raw SQL text).
        use_database: database named by ``USE``.
    """

    keyword: str = ""
    produces_result: bool = False
    format_name: str | None = None
    data_insert: bool = False
    insert_head_end: int = 0
    data_offset: int = 0
    insert_settings: bool = False
    incomplete: bool = False
    multi: bool = False
    temporary: bool = False
    assignments: list[tuple[str, str]] = field(default_factory=list)
    use_database: str | None = None


def _data_start(text: str, pos: int) -> int:
    """ClickHouse rule: data begins after spaces and at most one line break."""
    n = len(text)
    while pos < n and text[pos] in " \t\f":
        pos += 1
    if pos < n and text[pos] == "\r":
        pos += 1
    if pos < n and text[pos] == "\n":
        pos += 1
    return pos


def _parse_set(text: str, toks: list[Token], end: int) -> list[tuple[str, str]]:
    """Split ``SET a = 1, b = 'x'`` into assignments; ROLE/DEFAULT ROLE are not settings."""
    if len(toks) < 2 or toks[1].upper in {"ROLE", "DEFAULT", "TRANSACTION"}:
        return []
    pairs: list[tuple[str, str]] = []
    depth = 0
    i = 1
    while i < len(toks):
        name = unquote_identifier(toks[i])
        j = i + 1
        value_start = -1
        if j < len(toks) and toks[j].text == "=":
            value_start = toks[j].end
            j += 1
        while j < len(toks):
            t = toks[j]
            if t.text in "([{":
                depth += 1
            elif t.text in ")]}":
                depth -= 1
            elif t.text == "," and depth == 0:
                break
            j += 1
        value_end = toks[j].start if j < len(toks) else end
        value = text[value_start:value_end].strip() if value_start >= 0 else "1"
        pairs.append((name, value))
        i = j + 1
    return pairs


def classify(text: str, complete: bool = True) -> Statement:
    """Classify the statement at the start of ``text``.

    Args:
        text: SQL (latin-1 view of the bytes), possibly followed by insert data.
        complete: False while more request bytes may follow; an unfinished statement then
            comes back with ``incomplete=True`` instead of being guessed.

    Returns:
        The classification; for a data insert, scanning stops at the format name.
    """
    st = Statement()
    toks: list[Token] = []
    depth = 0
    end = len(text)
    it = tokens(text)
    try:
        for tok in it:
            if tok.text == ";" and depth == 0:
                end = tok.start
                for _extra in it:
                    st.multi = True
                    break
                break
            toks.append(tok)
            if tok.text in "([{":
                depth += 1
            elif tok.text in ")]}":
                depth -= 1
            if len(toks) == 1:
                st.keyword = tok.upper or tok.text
                continue
            if st.keyword == "INSERT" and depth == 0:
                up = tok.upper
                if up in {"SELECT", "WITH", "VALUES"}:
                    st.keyword = "INSERT"
                    for _rest in it:
                        if _rest.text == ";":
                            for _extra in it:
                                st.multi = True
                                break
                            break
                    return _finish(st, text, toks, end)
                if up == "SETTINGS":
                    st.insert_settings = True
                if up == "FORMAT":
                    name = next(it, None)
                    cut = name is not None and name.end == len(text)
                    if not complete and (name is None or cut):
                        st.incomplete = True
                        return st
                    if name is None or name.kind != WORD:
                        return _finish(st, text, toks, end)
                    st.data_insert = True
                    st.format_name = name.text
                    st.insert_head_end = tok.start
                    st.data_offset = _data_start(text, name.end)
                    if not complete and st.data_offset == len(text):
                        st.incomplete = True
                    return st
    except Incomplete:
        # Unterminated literal or comment: the engine reports the syntax error.
        st.incomplete = not complete
        return st
    if not complete and st.keyword in {"", "INSERT"}:
        st.incomplete = True
        return st
    return _finish(st, text, toks, end)


def _finish(st: Statement, text: str, toks: list[Token], end: int) -> Statement:
    kw = st.keyword
    st.produces_result = kw in RESULT_KEYWORDS or kw == "("
    depth = 0
    for i, tok in enumerate(toks):
        if tok.text in "([{":
            depth += 1
        elif tok.text in ")]}":
            depth -= 1
        elif depth == 0 and tok.upper == "FORMAT" and i + 1 < len(toks):
            name = toks[i + 1]
            after = toks[i + 2] if i + 2 < len(toks) else None
            if name.kind == WORD and (after is None or after.upper == "SETTINGS"):
                st.format_name = name.text
    if kw == "SET":
        st.assignments = _parse_set(text, toks, end)
    elif kw == "USE" and len(toks) >= 2:
        st.use_database = unquote_identifier(toks[1])
    elif kw in {"CREATE", "ATTACH"}:
        st.temporary = any(t.upper == "TEMPORARY" for t in toks[1:4])
    return st
