"""Schemathesis explores every operation of the OpenAPI document in-process: no input may
make the API answer 5xx. `MURMUR_FUZZ_EXAMPLES` sets examples per operation and mode
(default 25). A hostile pass then plants lone surrogates, NUL, huge and non-finite numbers and
deeply nested values into the generated bodies, queries and path parameters.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.schemas import APIOperation, BaseSchema

from murmur.clickhouse import ensure_database
from murmur.settings import Settings, get_settings
from tests.murmur.conftest import MakeAccount, auth

pytestmark = [pytest.mark.integration, pytest.mark.slow]
EXAMPLES = int(os.environ.get("MURMUR_FUZZ_EXAMPLES", "25"))
_NOT_SET = type(schemathesis.Case.__init__.__kwdefaults__["body"])


def _nested(depth: int) -> Any:
    value: Any = "leaf"
    for level in range(depth):
        value = {"k": [value]} if level % 2 else [value]
    return value


HOSTILE: st.SearchStrategy[Any] = st.one_of(
    st.sampled_from(["\ud800", "x\udfff", "\ud83d\ud83d", "a\x00b", "\ufeff", " "]),
    st.text(st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), min_size=1, max_size=4),
    st.sampled_from([2**63, -(2**63) - 1, 10**40, 1e308, -1e308, float("inf"), float("nan")]),
    st.sampled_from([True, 0, -1, ""]),
    st.sampled_from([_nested(40), _nested(500), [[]] * 2000, {"k" * 500: 1}]),
)


def _url_text(value: Any) -> str:
    """A URL-safe, percent-encoded form of any value, lone surrogates as their raw bytes."""
    text = value if isinstance(value, str) else json.dumps(value)
    return quote(text.encode("utf-8", "surrogatepass"), safe="")


def _plant(value: Any, data: st.DataObject) -> Any:
    """`value` with hostile values planted at some of its leaves (or in its place)."""
    if data.draw(st.integers(0, 3)) == 0:
        return data.draw(HOSTILE)
    if isinstance(value, dict):
        return {k: _plant(v, data) for k, v in value.items()}
    if isinstance(value, list):
        return [_plant(v, data) for v in value]
    return value


def _server_error(path: str, response: Any) -> bool:
    """A 5xx, except the documented 503 of `POST /segments/{id}/refresh` without a Dagster."""
    if response.status_code == 503 and path.endswith("/refresh"):
        return "Dagster is not configured" not in response.text
    return bool(response.status_code >= 500)


@pytest.fixture(scope="module")
def api_settings(
    migrated_db_url: str,
    clickhouse_url: str,
    smtp_url: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Settings:
    """The API's settings with a real ClickHouse, so `/campaigns/{id}/analytics` is fuzzed too,
    and an SMTP relay and tracking links, so are `/preview` and `/test-send`.

    (Without them those endpoints answer their documented 503.)
    """
    state: Path = tmp_path_factory.mktemp("fuzz-state")
    settings = get_settings(
        postgres_url=migrated_db_url,
        state_dir=state,
        clickhouse_url=clickhouse_url,
        clickhouse_database=f"fuzz_{uuid.uuid4().hex[:12]}",
        smtp_url=smtp_url,
        tracking_base_url="https://track.fuzz.example",
        tracking_secret="fuzz-tracking-secret",
    )
    ensure_database(settings)
    return settings


@pytest.fixture(scope="module")
def fuzz_headers(api_client: TestClient, make_account: MakeAccount) -> dict[str, str]:
    """An admin key of an account holding one object of each kind (so ids like 1 exist)."""
    _, key = make_account("admin")
    h = auth(key)
    tpl = api_client.post(
        "/api/v1/templates", headers=h, json={"name": "t", "subject": "s", "body_html": "b"}
    ).json()
    seg = api_client.post(
        "/api/v1/segments", headers=h, json={"name": "s", "definition": {"all": []}}
    ).json()
    api_client.post("/api/v1/contacts", headers=h, json={"email": "fuzz@example.com"})
    api_client.post("/api/v1/suppressions", headers=h, json={"email": "sup@example.com"})
    api_client.post(
        "/api/v1/campaigns",
        headers=h,
        json={
            "name": "c",
            "subject": "s",
            "template_id": tpl["template_id"],
            "segment_id": seg["segment_id"],
        },
    )
    return h


@pytest.fixture(scope="module")
def openapi_schema(api_app: FastAPI) -> BaseSchema:
    return schemathesis.openapi.from_asgi("/api/v1/openapi.json", api_app)


def _fuzz(operation: APIOperation, mode: GenerationMode, headers: dict[str, str]) -> None:
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.generate],
        derandomize=True,
        database=None,
    )
    def run(case: schemathesis.Case) -> None:
        response = case.call(headers=headers)
        assert not _server_error(case.path, response), (
            f"{case.method} {case.formatted_path} -> {response.status_code}: "
            f"{response.text[:300]}\n{case.as_curl_command()}"
        )

    run()


def _fuzz_hostile(operation: APIOperation, client: TestClient, headers: dict[str, str]) -> None:
    @given(case=operation.as_strategy(generation_mode=GenerationMode.POSITIVE), data=st.data())
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.generate],
        derandomize=True,
        database=None,
    )
    def run(case: schemathesis.Case, data: st.DataObject) -> None:
        path = case.path
        for name, value in (case.path_parameters or {}).items():
            planted = _url_text(_plant(value, data)) or "x"
            path = path.replace("{" + name + "}", planted)
        query = "&".join(
            f"{quote(k)}={_url_text(_plant(v, data))}" for k, v in (case.query or {}).items()
        )
        url = f"{path}?{query}" if query else path
        kwargs: dict[str, Any] = {"headers": dict(headers)}
        if case.media_type == "application/json" and not isinstance(case.body, _NOT_SET):
            kwargs["headers"]["Content-Type"] = "application/json"
            kwargs["content"] = json.dumps(_plant(case.body, data))  # ASCII: surrogates escaped
        elif not isinstance(case.body, _NOT_SET):
            return  # multipart uploads are fuzzed by the schemathesis pass
        response = client.request(case.method, url, **kwargs)
        assert not _server_error(case.path, response), (
            f"{case.method} {url[:300]} -> {response.status_code}: {response.text[:300]}\n"
            f"{kwargs.get('content', '')[:300]}"
        )

    run()


def test_hostile_values_planted_in_generated_requests_never_make_a_server_error(
    openapi_schema: BaseSchema, fuzz_headers: dict[str, str], api_client: TestClient
) -> None:
    failures: list[str] = []
    for result in openapi_schema.get_all_operations():
        operation = result.ok()
        if operation.method.upper() == "DELETE" and operation.path.startswith("/api/v1/api-keys"):
            continue  # revoking the fuzzing key would turn the rest of the run into 401s
        try:
            _fuzz_hostile(operation, api_client, fuzz_headers)
        except Exception as exc:  # hypothesis may also raise groups of failures
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}")
    assert not failures, "\n\n".join(failures)


def test_no_generated_request_makes_the_api_answer_a_server_error(
    openapi_schema: BaseSchema, fuzz_headers: dict[str, str]
) -> None:
    failures: list[str] = []
    operations = [result.ok() for result in openapi_schema.get_all_operations()]
    assert len(operations) >= 40
    for operation in operations:
        if operation.method.upper() == "DELETE" and operation.path.startswith("/api/v1/api-keys"):
            continue  # revoking the fuzzing key would turn the rest of the run into 401s
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                _fuzz(operation, mode, fuzz_headers)
            except Exception as exc:  # hypothesis may also raise groups of failures
                failures.append(f"[{mode.value}] {exc}")
    assert not failures, "\n\n".join(failures)
