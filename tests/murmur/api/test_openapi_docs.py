"""The OpenAPI document and the Swagger UI page, which must work offline."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

pytestmark = pytest.mark.integration


def test_the_docs_page_loads_its_assets_locally_and_names_no_other_host(
    api_client: TestClient,
) -> None:
    # Regression: /api/v1/docs loaded Swagger UI from a CDN and was blank offline.
    page = api_client.get("/api/v1/docs")
    assert page.status_code == 200
    assert not re.search(r"https?://|//[a-z0-9.-]+\.[a-z]{2,}/", page.text), page.text
    assets = re.findall(r"""(?:src|href)=["']([^"']+)["']""", page.text)
    assert any(a.endswith("swagger-ui-bundle.js") for a in assets), assets
    assert any(a.endswith("swagger-ui.css") for a in assets), assets
    for asset in assets:
        assert asset.startswith("/api/v1/docs/static/"), asset
        assert api_client.get(asset).status_code == 200, asset
    # Regression: the OAuth redirect pointed at /docs/oauth2-redirect, outside the API prefix.
    assert "'/api/v1/docs/oauth2-redirect'" in page.text or (
        '"/api/v1/docs/oauth2-redirect"' in page.text
    )
    assert api_client.get("/api/v1/docs/oauth2-redirect").status_code == 200


def test_openapi_documents_error_responses_and_the_import_job(api_client: TestClient) -> None:
    schema = api_client.get("/api/v1/openapi.json").json()
    send = schema["paths"]["/api/v1/campaigns/{campaign_id}/send"]["post"]["responses"]
    for status in ("401", "403", "404", "409", "413", "422", "503"):
        assert status in send, status
    job = schema["paths"]["/api/v1/contacts/imports/{import_id}"]["get"]["responses"]["200"]
    assert job["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ImportJob"
    }
    fields = schema["components"]["schemas"]["ImportJob"]["properties"]
    assert {"status", "processed_rows", "total_rows", "errors_url"} <= set(fields)
    queued = schema["paths"]["/api/v1/contacts/import"]["post"]["responses"]["202"]
    assert queued["content"]["application/json"]["schema"]["$ref"].endswith("/ImportJob")
    validation = schema["components"]["schemas"]["ValidationError"]
    assert {"loc", "msg", "type"} <= set(validation["properties"])
