"""Hostile and careless input answers a 4xx naming the field or the limit, never a 500."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from murmur.api.types import MAX_JSON_BYTES
from tests.murmur.conftest import MakeAccount, auth

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def admin(make_account: MakeAccount, api_client: TestClient) -> dict[str, str]:
    """An admin of an account owning template 1 (so `true` and `"1"` would name it)."""
    h = auth(make_account("admin")[1])
    tpl = api_client.post(
        "/api/v1/templates", headers=h, json={"name": "t", "subject": "s", "body_html": "b"}
    )
    assert tpl.json()["template_id"] == 1, "the module's database must be fresh"
    return h


def _post_json(client: TestClient, url: str, headers: dict[str, str], body: object) -> object:
    """POST `body` as ASCII JSON: lone surrogates travel as `\\ud800` escapes, NaN as `NaN`."""
    headers = {**headers, "Content-Type": "application/json"}
    return client.post(url, headers=headers, content=json.dumps(body))


def _locs(response: object) -> list[list[object]]:
    detail = response.json()["detail"]  # type: ignore[attr-defined]
    assert isinstance(detail, list), detail
    for error in detail:
        assert set(error) == {"loc", "msg", "type"}, error
    return [error["loc"] for error in detail]


def test_a_lone_surrogate_in_any_json_string_answers_422_not_500(
    api_client: TestClient, admin: dict[str, str]
) -> None:
    # Regression: the validation handler failed to encode the echoed input and answered 500.
    echoed: Any = _post_json(api_client, "/api/v1/api-keys", admin, {"role": "\ud800"})
    assert echoed.status_code == 422, echoed.text
    assert _locs(echoed) == [["body", "role"]]
    stored: Any = _post_json(
        api_client, "/api/v1/templates", admin, {"name": "\ud800", "subject": "s", "body_html": "b"}
    )
    assert stored.status_code == 422, stored.text
    assert _locs(stored) == [["body", "name"]]
    key: Any = _post_json(
        api_client, "/api/v1/segments", admin, {"name": "s", "definition": {"\udfff": 1}}
    )
    assert key.status_code == 422, key.text


def test_validation_errors_never_echo_the_input_such_as_a_password(
    api_client: TestClient, admin: dict[str, str]
) -> None:
    # Regression: the 422 body quoted `input`, here the password.
    response = api_client.post(
        "/api/v1/users",
        headers=admin,
        json={"email": "new@example.com", "password": "hunter2-secret"[:9]},
    )
    assert response.status_code == 422
    assert _locs(response) == [["body", "password"]]
    assert "hunter2-s" not in response.text


def test_a_json_body_over_the_limit_answers_413_naming_it(
    api_client: TestClient, admin: dict[str, str]
) -> None:
    # Regression: a 60 MB custom_fields was read and stored.
    big = {"name": "s", "definition": {"all": []}, "pad": "x" * (2 * 1024 * 1024)}
    declared = api_client.post("/api/v1/segments", headers=admin, json=big)
    assert declared.status_code == 413
    assert "1048576-byte limit" in declared.json()["detail"]

    def chunks() -> object:
        yield b'{"name": "s", "pad": "'
        for _ in range(40):
            yield b"x" * 65536
        yield b'"}'

    streamed = api_client.post(
        "/api/v1/segments",
        headers={**admin, "Content-Type": "application/json"},
        content=chunks(),  # type: ignore[arg-type]
    )
    assert streamed.status_code == 413
    assert "1048576-byte limit" in streamed.json()["detail"]


def test_custom_fields_over_the_limit_answer_422_naming_it(
    api_client: TestClient, admin: dict[str, str]
) -> None:
    # Regression: custom_fields had no size limit.
    fields = {f"k{i}": "v" * 1000 for i in range(80)}
    response = api_client.post(
        "/api/v1/contacts",
        headers=admin,
        json={"email": "big@example.com", "custom_fields": fields},
    )
    assert response.status_code == 422, response.text
    assert _locs(response) == [["body", "custom_fields"]]
    assert str(MAX_JSON_BYTES) in response.json()["detail"][0]["msg"]
    deep: object = 1
    for _ in range(200):
        deep = [deep]
    nested = api_client.post(
        "/api/v1/contacts",
        headers=admin,
        json={"email": "deep@example.com", "custom_fields": {"x": deep}},
    )
    assert nested.status_code == 422, nested.text
    assert _locs(nested) == [["body", "custom_fields"]]


@pytest.mark.parametrize("bad", [True, "1", 1.0, 2**63])
def test_ids_in_bodies_are_strict_integers(
    api_client: TestClient, admin: dict[str, str], bad: object
) -> None:
    # Regression: `template_id: true` and `"5"` were coerced into ids.
    response = api_client.post(
        "/api/v1/campaigns", headers=admin, json={"name": "c", "subject": "s", "template_id": bad}
    )
    assert response.status_code == 422, response.text
    assert _locs(response)[0][:2] == ["body", "template_id"]


def test_nan_and_out_of_range_dates_are_refused_naming_the_field(
    api_client: TestClient, admin: dict[str, str]
) -> None:
    # Regression: both came back as database error text without `loc`.
    criteria = {"all": [{"field": "custom_fields.score", "op": "gt", "value": float("nan")}]}
    nan: Any = _post_json(
        api_client, "/api/v1/segments", admin, {"name": "s", "definition": criteria}
    )
    assert nan.status_code == 422, nan.text
    assert _locs(nan)[0][:2] == ["body", "definition"]
    for when in ("9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00"):
        late = api_client.post(
            "/api/v1/campaigns",
            headers=admin,
            json={"name": "c", "subject": "s", "scheduled_at": when},
        )
        assert late.status_code == 422, late.text
        assert _locs(late) == [["body", "scheduled_at"]]


@pytest.mark.parametrize(
    ("url", "method", "body", "field"),
    [
        ("/api/v1/account", "PATCH", {"postal_address": "   "}, "postal_address"),
        ("/api/v1/account", "PATCH", {"default_from_name": "\t"}, "default_from_name"),
        ("/api/v1/campaigns", "POST", {"name": "c", "subject": " ", "from_name": "x"}, "subject"),
        (
            "/api/v1/campaigns",
            "POST",
            {"name": "c", "subject": "s", "from_name": "  "},
            "from_name",
        ),
        ("/api/v1/campaigns", "POST", {"name": "  ", "subject": "s"}, "name"),
        (
            "/api/v1/templates",
            "POST",
            {"name": "t", "subject": "s", "body_html": "  "},
            "body_html",
        ),
        ("/api/v1/templates", "POST", {"name": "t", "subject": "\n", "body_html": "b"}, "subject"),
    ],
)
def test_whitespace_only_required_text_is_refused_naming_the_field(
    api_client: TestClient,
    admin: dict[str, str],
    url: str,
    method: str,
    body: dict[str, str],
    field: str,
) -> None:
    # Regression: whitespace-only postal addresses and sender names passed the send checks.
    response = api_client.request(method, url, headers=admin, json=body)
    assert response.status_code == 422, response.text
    assert _locs(response) == [["body", field]]


def test_every_422_from_a_route_uses_the_validation_shape(
    api_client: TestClient, make_account: MakeAccount
) -> None:
    h = auth(make_account("editor")[1])
    response = api_client.post("/api/v1/contacts/import", headers=h, data={"x": "1"})
    assert response.status_code == 422
    assert _locs(response) == [["body"]]
