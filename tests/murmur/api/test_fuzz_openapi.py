"""Schemathesis explores every operation of the OpenAPI document in-process: no input may
make the API answer 5xx. `MURMUR_FUZZ_EXAMPLES` sets examples per operation and mode
(default 25).
"""

from __future__ import annotations

import os

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.schemas import APIOperation, BaseSchema

from tests.murmur.conftest import MakeAccount, auth

pytestmark = [pytest.mark.integration, pytest.mark.slow]
EXAMPLES = int(os.environ.get("MURMUR_FUZZ_EXAMPLES", "25"))


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
        assert response.status_code < 500, (
            f"{case.method} {case.formatted_path} -> {response.status_code}: "
            f"{response.text[:300]}\n{case.as_curl_command()}"
        )

    run()


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
