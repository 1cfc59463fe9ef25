"""The statement classifier, on the shapes clients actually send."""

from __future__ import annotations

import time

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


def test_large_dbt_style_ddl_classifies_in_linear_time() -> None:
    column = "  `col_{i}` Nullable(String) COMMENT 'it''s a \\'quoted\\' /* not */ comment',\n"
    ddl = (
        "CREATE TABLE x (\n" + "".join(column.format(i=i) for i in range(20000)) + ") ENGINE = Log"
    )
    started = time.perf_counter()
    st = classify(ddl)
    assert st.keyword == "CREATE" and not st.multi
    assert time.perf_counter() - started < 5
