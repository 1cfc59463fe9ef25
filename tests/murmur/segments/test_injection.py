"""No way to inject SQL through a definition: names are whitelisted, every value is bound.

Unit tests check the compiled text never holds a value; the integration test stores hostile
keys and values in real contacts and events and checks they are matched literally, exactly.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from clickhouse_connect.driver.client import Client
from fastapi.testclient import TestClient

from murmur.analytics.run import replicate_all
from murmur.analytics.tables import CONTACT_PII, CONTACTS
from murmur.db.tables import contacts
from murmur.domain.segment_sql import SegmentSqlError, compile_segment
from tests.murmur.conftest import MakeAccount, auth
from tests.murmur.segments.marts import add_events, create_sources

NOW = dt.datetime(2026, 8, 1, tzinfo=dt.UTC)
EVIL = "x'); drop table raw_contacts; --"
EVIL_KEY = "it's` \" {p0:String} \\' --"
EVIL_URL = "https://t.test/?q=') or 1=1 union select contact_id from raw_contact_pii --"


def _compiled(definition: Any) -> tuple[str, dict[str, Any]]:
    compiled = compile_segment(definition, uuid.uuid4(), NOW)
    return compiled.sql, compiled.parameters


@pytest.mark.parametrize(
    "item",
    [
        {"field": "first_name", "op": "eq", "value": EVIL},
        {"field": "email", "op": "in", "value": [EVIL, "a"]},
        {"field": "status", "op": "not_in", "value": [EVIL]},
        {"field": "last_name", "op": "contains", "value": EVIL},
        {"field": "consent_source", "op": "gt", "value": EVIL},
        {"field": f"custom_fields.{EVIL_KEY}", "op": "eq", "value": EVIL},
        {"field": f"custom_fields.{EVIL_KEY}", "op": "exists"},
        {"field": f"custom_fields.{EVIL_KEY}", "op": "contains", "value": EVIL},
        {"field": f"custom_fields.{EVIL_KEY}", "op": "lte", "value": EVIL},
        {"field": f"custom_fields.{EVIL}", "op": "in", "value": [EVIL, 1, True]},
        {"event": "clicked", "link_contains": EVIL},
        {"event": "clicked", "link_contains": EVIL_URL, "campaign_id": 7, "min_count": 2},
    ],
)
def test_values_keys_and_link_substrings_are_bound_parameters_never_sql_text(item: Any) -> None:
    sql, params = _compiled({"all": [{"not": item}]})
    for text in (EVIL, EVIL_KEY, EVIL_URL, "drop table", "1=1"):
        assert text not in sql
    bound = {str(v) for v in params.values()} | {
        str(x) for v in params.values() if isinstance(v, list) for x in v
    }
    assert bound & {EVIL, EVIL_KEY, EVIL_URL, EVIL_KEY.replace("custom_fields.", "")}
    # the only quotes in the SQL are the compiler's own JSON type names
    assert "drop" not in sql.lower()


@pytest.mark.parametrize(
    ("item", "where"),
    [
        ({"field": "email; drop table raw_contacts", "op": "eq", "value": 1}, "field"),
        ({"field": "`raw_contacts`.email", "op": "eq", "value": 1}, "field"),
        ({"field": "email", "op": "= 1 or 1 =", "value": 1}, "op"),
        ({"event": "opened') or ('1", "within_days": 1}, "event"),
        ({"event": "opened", "campaign_id": "1 or 1=1"}, "campaign_id"),
        ({"event": "opened", "within_days": "30; drop"}, "within_days"),
        ({"event": "opened", "between": ["2026-01-01' or '1", "2026-02-01"]}, "between"),
        ({"engagement": "never' or '1"}, "engagement"),
        ({"member_of": "1 or 1=1"}, "member_of"),
        ({"field": "custom_fields." + "k" * 101, "op": "exists"}, "field"),
        ({"field": "created_at", "op": "gt", "value": "now() - 1"}, "value"),
        # instants ClickHouse cannot hold would fail as a bound parameter: refused up front
        ({"event": "opened", "between": ["0001-01-01", "2026-01-01"]}, "between"),
        ({"field": "updated_at", "op": "in", "value": ["9999-12-31"]}, "value"),
    ],
)
def test_names_and_typed_values_outside_the_whitelist_are_refused(item: Any, where: str) -> None:
    with pytest.raises(SegmentSqlError, match=f"invalid criteria at all/0/{where}"):
        compile_segment({"all": [item]}, uuid.uuid4(), NOW)


@pytest.mark.integration
def test_hostile_keys_values_and_links_match_literally_and_break_nothing(
    ch: Client,
    db_engine: sa.Engine,
    migrated_db_url: str,
    make_account: MakeAccount,
    ch_api: TestClient,
) -> None:
    account_id, key = make_account("editor")
    with db_engine.begin() as conn:
        rows = conn.execute(
            contacts.insert().returning(contacts.c.email, contacts.c.contact_id),
            [
                {
                    "account_id": account_id,
                    "email": "evil@inj.test",
                    "first_name": EVIL,
                    "custom_fields": {EVIL_KEY: EVIL},
                },
                {
                    "account_id": account_id,
                    "email": "plain@inj.test",
                    "first_name": None,
                    "custom_fields": {"a": 1},
                },
            ],
        ).all()
    ids = {email.split("@")[0]: cid for email, cid in rows}
    create_sources(ch)
    replicate_all(migrated_db_url, ch, (CONTACTS, CONTACT_PII))
    add_events(
        ch,
        account_id,
        [
            {
                "contact_id": ids["plain"],
                "email_record_id": 1,
                "event_type": "click",
                "url": EVIL_URL,
                "event_at": NOW,
            },
            {
                "contact_id": ids["evil"],
                "email_record_id": 2,
                "event_type": "click",
                "url": "https://t.test/a",
                "event_at": NOW,
            },
        ],
    )
    before = int(ch.command("select count() from raw_contacts"))

    def select(definition: Any) -> set[int]:
        compiled = compile_segment(definition, account_id, NOW)
        return {
            int(r[0]) for r in ch.query(compiled.sql, parameters=compiled.parameters).result_rows
        }

    assert select({"all": [{"field": f"custom_fields.{EVIL_KEY}", "op": "eq", "value": EVIL}]}) == {
        ids["evil"]
    }
    assert select(
        {"all": [{"field": f"custom_fields.{EVIL_KEY}", "op": "contains", "value": "DROP TABLE"}]}
    ) == {ids["evil"]}
    assert select({"all": [{"field": "first_name", "op": "in", "value": [EVIL]}]}) == {ids["evil"]}
    assert select({"all": [{"not": {"field": "first_name", "op": "eq", "value": EVIL}}]}) == {
        ids["plain"]
    }
    assert select({"all": [{"event": "clicked", "link_contains": "') OR 1=1 UNION"}]}) == {
        ids["plain"]
    }
    assert select({"all": [{"event": "clicked", "link_contains": EVIL}]}) == set()
    assert int(ch.command("select count() from raw_contacts")) == before

    bad = ch_api.post(
        "/api/v1/segments",
        headers=auth(key),
        json={
            "name": "x",
            "definition": {"any": [{"field": "email) or (1=1", "op": "eq", "value": 1}]},
        },
    )
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"] == ["body", "definition", "any", 0, "field"]
    ok = ch_api.post(
        "/api/v1/segments/preview",
        headers=auth(key),
        json={"definition": {"all": [{"field": f"custom_fields.{EVIL_KEY}", "op": "exists"}]}},
    )
    assert ok.status_code == 200, ok.text
    assert ok.json()["size"] == 1
