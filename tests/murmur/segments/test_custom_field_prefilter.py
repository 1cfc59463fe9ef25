"""Custom-field equality: the substring test in front of the JSON parser never changes a result.

The compiler tests `"value"` as a substring of the replicated JSON text before parsing it
(murmur.domain.segment_sql._VERBATIM). Each contact here holds the value somewhere it must not
match (another key, a nested object, a key, a longer string, a number, an escaped string) or
where it must, and the ClickHouse answer must be exactly the live Postgres evaluation's.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from clickhouse_connect.driver.client import Client

from murmur.analytics.run import replicate_all
from murmur.analytics.tables import CONTACT_PII, CONTACTS
from murmur.db.tables import contacts
from murmur.domain.audience import audience_query
from murmur.domain.segment_sql import compile_segment
from tests.murmur.conftest import MakeAccount
from tests.murmur.segments.marts import create_sources

pytestmark = pytest.mark.integration

NOW = dt.datetime(2026, 7, 1, tzinfo=dt.UTC)
FIELDS: dict[str, dict[str, Any]] = {
    "plain": {"plan": "pro"},
    "spaced": {"plan": "pro plus: 2 seats", "seats": 2},
    "other_key": {"tier": "pro", "plan": "free"},
    "nested": {"x": {"plan": "pro"}, "plan": "team"},
    "as_key": {"pro": "plan"},
    "longer": {"plan": "propane"},
    "number": {"plan": 5},
    "quoted": {"plan": 'say "pro"'},
    "unicode": {"plan": "pro", "note": "caf\u00e9 \u2603"},
    "empty": {},
    # the `"plan": "pro"` pair without a JSON parse only when no object is nested
    "pair_nested_only": {"x": {"plan": "pro"}},
    "pair_in_array": {"a": [{"plan": "pro"}], "plan": "free"},
    "brace_in_value": {"note": "{", "plan": "pro"},
    "pair_as_text": {"note": "plan: pro", "plan": "basic"},
    "pair_prefix": {"plan": "pro", "xplan": "free"},
    "pair_suffix_key": {"subplan": "pro", "plan": "free"},
}


@pytest.fixture(scope="module")
def people(
    db_engine: sa.Engine, make_account: MakeAccount, migrated_db_url: str, ch: Client
) -> tuple[uuid.UUID, dict[int, str]]:
    account_id, _ = make_account()
    with db_engine.begin() as conn:
        rows = conn.execute(
            contacts.insert().returning(contacts.c.contact_id, contacts.c.email),
            [
                {"account_id": account_id, "email": f"{name}@pf.test", "custom_fields": fields}
                for name, fields in FIELDS.items()
            ],
        ).all()
    create_sources(ch)
    replicate_all(migrated_db_url, ch, (CONTACTS, CONTACT_PII))
    return account_id, {cid: email.split("@")[0] for cid, email in rows}


CASES = [
    (
        {"field": "custom_fields.plan", "op": "eq", "value": "pro"},
        {"plain", "unicode", "brace_in_value", "pair_prefix"},
    ),
    (
        {"field": "custom_fields.plan", "op": "in", "value": ["pro", "team"]},
        {"plain", "unicode", "nested", "brace_in_value", "pair_prefix"},
    ),
    ({"field": "custom_fields.plan", "op": "eq", "value": "pro plus: 2 seats"}, {"spaced"}),
    ({"field": "custom_fields.plan", "op": "eq", "value": 'say "pro"'}, {"quoted"}),
    ({"field": "custom_fields.plan", "op": "eq", "value": "5"}, set()),
    ({"field": "custom_fields.plan", "op": "eq", "value": 5}, {"number"}),
    ({"field": "custom_fields.pro", "op": "eq", "value": "plan"}, {"as_key"}),
    ({"field": "custom_fields.tier", "op": "eq", "value": "pro"}, {"other_key"}),
    (
        {"not": {"field": "custom_fields.plan", "op": "eq", "value": "pro"}},
        set(FIELDS) - {"plain", "unicode", "brace_in_value", "pair_prefix"},
    ),
    (
        {"field": "custom_fields.plan", "op": "not_in", "value": ["pro", "free"]},
        set(FIELDS)
        - {"plain", "unicode", "other_key", "brace_in_value", "pair_prefix"}
        - {"pair_in_array", "pair_suffix_key"},
    ),
    ({"field": "custom_fields.subplan", "op": "eq", "value": "pro"}, {"pair_suffix_key"}),
]


@pytest.mark.parametrize(("item", "expected"), CASES)
def test_custom_field_equality_matches_exactly_what_postgres_matches(
    ch: Client,
    db_engine: sa.Engine,
    people: tuple[uuid.UUID, dict[int, str]],
    item: dict[str, Any],
    expected: set[str],
) -> None:
    account_id, names = people
    definition = {"all": [item]}
    compiled = compile_segment(definition, account_id, NOW)
    rows = ch.query(compiled.sql, parameters=compiled.parameters).result_rows
    found = {names[int(r[0])] for r in rows}
    with db_engine.connect() as conn:
        live = {names[i] for i in conn.execute(audience_query(account_id, definition)).scalars()}
    assert found == expected
    assert found == live


def test_only_plain_values_get_the_substring_test() -> None:
    plain = compile_segment(
        {"all": [{"field": "custom_fields.plan", "op": "eq", "value": "pro"}]}, uuid.uuid4(), NOW
    )
    quoted = compile_segment(
        {"all": [{"field": "custom_fields.plan", "op": "eq", "value": 'a"b'}]}, uuid.uuid4(), NOW
    )
    assert "position(custom_fields" in plain.sql and '"pro"' in plain.parameters.values()
    assert "position(custom_fields" not in quoted.sql
    # the key-and-value pair test needs a plain key too
    assert '"plan": "pro"' in plain.parameters.values()
    odd_key = compile_segment(
        {"all": [{"field": "custom_fields.a b", "op": "eq", "value": "pro"}]}, uuid.uuid4(), NOW
    )
    assert '"a b": "pro"' not in odd_key.parameters.values()
