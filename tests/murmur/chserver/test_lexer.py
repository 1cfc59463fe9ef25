"""The statement classifier, on the shapes clients actually send."""

from __future__ import annotations

from typing import SupportsIndex

import pytest

from murmur.chserver.lexer import classify

pytestmark = pytest.mark.unit


def test_format_clause_is_found_but_not_the_format_function() -> None:
    st = classify("select format('{} FORMAT JSON', 1) as format from t FORMAT TSVWithNames")
    assert st.produces_result
    assert st.format_name == "TSVWithNames"


def test_data_insert_stops_at_the_format_name_and_keeps_binary_data_unscanned() -> None:
    text = "INSERT INTO db.t (`a`, `b`) FORMAT Native\n\t\x02'unterminated \x00"
    st = classify(text)
    assert st.data_insert and st.format_name == "Native"
    assert text[st.data_offset :] == "\t\x02'unterminated \x00"
    assert text[: st.insert_head_end].strip() == "INSERT INTO db.t (`a`, `b`)"


def test_insert_select_and_values_are_not_data_inserts() -> None:
    assert not classify("INSERT INTO t SELECT * FROM s FORMAT Native").data_insert
    assert not classify("insert into t values ('FORMAT Native')").data_insert


def test_comments_strings_and_heredocs_hide_keywords_and_semicolons() -> None:
    st = classify("/* a /* nested */ ; */ -- ; \n SELECT 'a;b', $$;$$, \"x;\" # ;\n")
    assert st.keyword == "SELECT" and not st.multi
    assert classify("SELECT 1; SELECT 2").multi
    assert not classify("SELECT 1;  -- trailing\n").multi


def test_set_and_use_are_parsed_for_session_state() -> None:
    st = classify("SET a = 1, b = 'x,y', c = [1, (2, 3)]")
    assert st.assignments == [("a", "1"), ("b", "'x,y'"), ("c", "[1, (2, 3)]")]
    assert classify("USE `my db`").use_database == "my db"
    assert classify("CREATE TEMPORARY TABLE t (a UInt8)").temporary


def test_partial_input_asks_for_more_instead_of_guessing() -> None:
    assert classify("INSERT INTO t FORMAT Nat", complete=False).incomplete
    assert classify("INSERT INTO t VALUES ('abc", complete=False).keyword == "INSERT"
    assert classify("SELECT '", complete=False).keyword == "SELECT"


class _CountingText(str):
    """A str that counts the characters the scanner examines (find, startswith, indexing)."""

    examined: int

    def __new__(cls, value: str) -> _CountingText:
        obj = super().__new__(cls, value)
        obj.examined = 0
        return obj

    def find(
        self, sub: str, start: SupportsIndex | None = None, end: SupportsIndex | None = None
    ) -> int:
        lo = 0 if start is None else int(start)
        hi = len(self) if end is None else int(end)
        found = super().find(sub, lo, hi)
        self.examined += max((found + len(sub) if found >= 0 else hi) - lo, 1)
        return found

    def startswith(self, prefix: str | tuple[str, ...], *args: SupportsIndex) -> bool:  # type: ignore[override]
        self.examined += max(len(p) for p in prefix) if isinstance(prefix, tuple) else len(prefix)
        return super().startswith(prefix, *args)

    def __getitem__(self, key: SupportsIndex | slice) -> str:
        part = super().__getitem__(key)
        self.examined += max(len(part), 1)
        return part


def _dbt_style_ddl(columns: int) -> str:
    column = "  `col_{i}` Nullable(String) COMMENT 'it''s a \\'quoted\\' /* not */ comment',\n"
    return (
        "CREATE TABLE x (\n"
        + "".join(column.format(i=i) for i in range(columns))
        + ") ENGINE = Log"
    )


def test_large_dbt_style_ddl_classifies_in_linear_time() -> None:
    # Linear = the characters the scanner examines stay a small constant per input character as
    # the text grows (a rescan per token would make that ratio grow with the size).
    ratios = []
    for columns in (2_000, 8_000):
        text = _CountingText(_dbt_style_ddl(columns))
        st = classify(text)
        assert st.keyword == "CREATE" and not st.multi and not st.incomplete
        ratios.append(text.examined / len(text))
    assert all(r <= 3 for r in ratios), ratios
    assert ratios[1] <= ratios[0] * 1.05, ratios


def test_a_string_of_many_backslash_escapes_classifies_in_linear_time() -> None:
    # Regression: `_skip_quoted` searched for the closing quote again after every backslash, so
    # a 2 MB literal of `\\n` escapes cost the server tens of seconds of CPU (quadratic).
    ratios = []
    for escapes in (2_000, 8_000):
        text = _CountingText("SELECT '" + "\\n" * escapes + "' AS s")
        st = classify(text)
        assert st.keyword == "SELECT" and not st.multi and not st.incomplete
        ratios.append(text.examined / len(text))
    assert all(r <= 3 for r in ratios), ratios
    assert ratios[1] <= ratios[0] * 1.05, ratios
