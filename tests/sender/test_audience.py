"""Criteria compiled to SQL over contacts: semantics on real Postgres, bound values, the gate."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from murmur.db.tables import contacts, erasures, segments, suppressions
from murmur.domain.audience import (
    AudienceError,
    audience_contact_ids,
    audience_query,
    compile_criteria,
)
from murmur.domain.sending import sendable
from murmur.domain.suppression import can_send, email_sha256


def _sql(definition: Any) -> tuple[str, dict[str, Any]]:
    compiled = compile_criteria(definition).compile(dialect=postgresql.dialect())
    return str(compiled), dict(compiled.params)


def test_values_and_custom_keys_are_bound_parameters_never_sql_text() -> None:
    evil = "x'); drop table contacts; --"
    sql, params = _sql(
        {
            "any": [
                {"field": "first_name", "op": "eq", "value": evil},
                {"field": f"custom_fields.{evil}", "op": "contains", "value": evil},
            ]
        }
    )
    assert "drop table" not in sql
    assert evil in params.values()


@pytest.mark.parametrize(
    "definition",
    [
        {"all": [{"field": "password_hash", "op": "eq", "value": 1}]},
        {"all": [{"field": "email", "op": "like", "value": "%"}]},
        {"all": [{"field": "email; drop", "op": "eq", "value": 1}]},
        {"none": []},
    ],
)
def test_fields_and_operators_outside_the_whitelist_are_refused(definition: Any) -> None:
    with pytest.raises(AudienceError, match="invalid criteria"):
        compile_criteria(definition)


PEOPLE: list[dict[str, Any]] = [
    {"email": "ann@x.test", "first_name": "Ann", "custom_fields": {"plan": "pro", "age": 41}},
    {"email": "bob@x.test", "first_name": "Bob", "custom_fields": {"plan": "free", "age": 17}},
    {"email": "cy@y.test", "first_name": None, "custom_fields": {"age": "unknown"}},
    {"email": "dee@y.test", "first_name": "Dee", "custom_fields": {"plan": "pro", "vip": True}},
]


@pytest.fixture(scope="module")
def people(
    db_engine: sa.Engine, make_account: Callable[..., tuple[uuid.UUID, str]]
) -> tuple[uuid.UUID, dict[str, int]]:
    account_id, _ = make_account()
    other, _ = make_account()
    with db_engine.begin() as conn:
        rows = conn.execute(
            contacts.insert().returning(contacts.c.email, contacts.c.contact_id),
            [{"account_id": account_id, **p} for p in PEOPLE],
        ).all()
        conn.execute(contacts.insert(), [{"account_id": other, **PEOPLE[0]}])
    return account_id, {email.split("@")[0]: cid for email, cid in rows}


def _names(
    db_engine: sa.Engine, account_id: uuid.UUID, definition: Any, ids: dict[str, int]
) -> set[str]:
    by_id = {v: k for k, v in ids.items()}
    with db_engine.connect() as conn:
        return {by_id[i] for i in conn.execute(audience_query(account_id, definition)).scalars()}


CASES = [
    ({"all": []}, {"ann", "bob", "cy", "dee"}),
    ({"any": []}, set()),
    ({"all": [{"field": "custom_fields.plan", "op": "eq", "value": "pro"}]}, {"ann", "dee"}),
    ({"all": [{"field": "custom_fields.plan", "op": "neq", "value": "pro"}]}, {"bob", "cy"}),
    ({"all": [{"field": "custom_fields.age", "op": "gte", "value": 18}]}, {"ann"}),
    ({"all": [{"field": "custom_fields.age", "op": "lt", "value": 18}]}, {"bob"}),
    ({"all": [{"field": "custom_fields.vip", "op": "eq", "value": True}]}, {"dee"}),
    ({"all": [{"field": "custom_fields.plan", "op": "exists", "value": False}]}, {"cy"}),
    ({"all": [{"field": "first_name", "op": "exists"}]}, {"ann", "bob", "dee"}),
    ({"all": [{"field": "email", "op": "contains", "value": "@Y.TEST"}]}, {"cy", "dee"}),
    ({"all": [{"field": "first_name", "op": "in", "value": ["Ann", "Bob"]}]}, {"ann", "bob"}),
    ({"all": [{"field": "first_name", "op": "not_in", "value": ["Ann"]}]}, {"bob", "cy", "dee"}),
    (
        {"all": [{"field": "created_at", "op": "gt", "value": "2000-01-01"}]},
        {"ann", "bob", "cy", "dee"},
    ),
    (
        {
            "any": [
                {
                    "all": [
                        {"field": "custom_fields.plan", "op": "eq", "value": "pro"},
                        {"field": "custom_fields.vip", "op": "exists"},
                    ]
                },
                {"field": "first_name", "op": "eq", "value": "Bob"},
            ]
        },
        {"dee", "bob"},
    ),
]


@pytest.mark.integration
@pytest.mark.parametrize(("definition", "expected"), CASES)
def test_criteria_select_exactly_the_expected_contacts_of_the_account(
    db_engine: sa.Engine,
    people: tuple[uuid.UUID, dict[str, int]],
    definition: Any,
    expected: set[str],
) -> None:
    account_id, ids = people
    assert _names(db_engine, account_id, definition, ids) == expected


@pytest.mark.integration
def test_a_timestamp_field_with_a_non_date_value_is_a_clear_error() -> None:
    with pytest.raises(AudienceError, match="ISO 8601"):
        compile_criteria({"all": [{"field": "created_at", "op": "gt", "value": "yesterday"}]})


@pytest.mark.integration
def test_audience_contact_ids_reads_the_segment_and_refuses_dbt_segments(
    db_engine: sa.Engine, people: tuple[uuid.UUID, dict[str, int]]
) -> None:
    account_id, ids = people
    with db_engine.begin() as conn:
        seg = conn.execute(
            segments.insert()
            .values(account_id=account_id, name="pro", kind="criteria", definition=CASES[2][0])
            .returning(segments.c.segment_id)
        ).scalar_one()
        dbt = conn.execute(
            segments.insert()
            .values(account_id=account_id, name="d", kind="dbt", dbt_model="seg_x")
            .returning(segments.c.segment_id)
        ).scalar_one()
        assert audience_contact_ids(conn, account_id, seg) == sorted([ids["ann"], ids["dee"]])
        with pytest.raises(AudienceError, match="dbt segment"):
            audience_contact_ids(conn, account_id, dbt)
        with pytest.raises(AudienceError, match="not found"):
            audience_contact_ids(conn, uuid.uuid4(), seg)


@pytest.mark.integration
def test_the_sendable_predicate_agrees_with_can_send_for_every_contact(
    db_engine: sa.Engine, make_account: Callable[..., tuple[uuid.UUID, str]]
) -> None:
    account_id, _ = make_account()
    statuses = [
        "subscribed",
        "unsubscribed",
        "bounced",
        "complained",
        "subscribed",
        "subscribed",
        "subscribed",
    ]
    with db_engine.begin() as conn:
        conn.execute(
            contacts.insert(),
            [
                {"account_id": account_id, "email": f"p{i}@gate.test", "status": s}
                for i, s in enumerate(statuses)
            ],
        )
        conn.execute(
            suppressions.insert().values(
                account_id=account_id, email="p4@gate.test", reason="complaint"
            )
        )
        conn.execute(
            suppressions.insert().values(
                account_id=account_id,
                email="sha256:" + email_sha256("p5@gate.test"),
                reason="erasure",
            )
        )
        conn.execute(
            erasures.insert().values(
                account_id=account_id, email_sha256=email_sha256("p6@gate.test"), actor="t"
            )
        )
        rows = conn.execute(
            sa.select(contacts.c.contact_id, sendable(account_id)).where(
                contacts.c.account_id == account_id
            )
        ).all()
        assert len(rows) == len(statuses)
        for contact_id, ok in rows:
            assert ok == can_send(conn, account_id, contact_id)[0]
        assert sum(ok for _, ok in rows) == 1  # only p0
