"""API documentation: Swagger UI served from local files, shared error responses, extra schemas.

Swagger UI's JavaScript and CSS come from the `swagger-ui-bundle-v2` package (served under
`/api/v1/docs/static`), so `/api/v1/docs` works offline and loads nothing from another host.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

import swagger_ui_bundle
from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel


class ErrorOut(BaseModel):
    """An error: a sentence, or a list of `{loc, msg, type}` naming the fields (409s)."""

    detail: str | list[dict[str, Any]]


class ImportJobOut(BaseModel):
    """A contact import job (`GET /contacts/imports/{import_id}`)."""

    import_id: uuid.UUID
    account_id: uuid.UUID
    status: Literal["queued", "running", "succeeded", "failed"]
    filename: str | None
    size_bytes: int
    total_rows: int | None
    processed_rows: int
    inserted: int
    updated: int
    unchanged: int
    duplicates: int
    error_rows: int
    columns: dict[str, Any]
    error: str | None
    actor: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    updated_at: datetime
    errors_url: str


def _error(description: str) -> dict[str, Any]:
    return {"model": ErrorOut, "description": description}


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: _error("Missing, malformed, unknown or revoked API key."),
    403: _error("The API key's role is too low for this operation."),
    404: _error("No such object in the caller's account."),
    409: _error("The object's state does not allow this (e.g. a campaign that is not a draft)."),
    413: _error("The request body is larger than the limit named in the message."),
    503: _error("The database is unavailable; retry later."),
}
_JOB_PATHS = {"/contacts/imports/{import_id}": ("get", "200"), "/contacts/import": ("post", "202")}


def install_docs(app: FastAPI, prefix: str) -> None:
    """Swagger UI at `{prefix}/docs` and the OpenAPI document with the import job schema.

    Local assets; the OAuth redirect lives under the prefix, beside the docs page.
    """
    static = f"{prefix}/docs/static"
    redirect = f"{prefix}/docs/oauth2-redirect"
    app.mount(static, StaticFiles(directory=str(swagger_ui_bundle.swagger_ui_path)), "swagger")

    @app.get(f"{prefix}/docs", include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=f"{prefix}/openapi.json",
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{static}/swagger-ui-bundle.js",
            swagger_css_url=f"{static}/swagger-ui.css",
            swagger_favicon_url=f"{static}/favicon-32x32.png",
            oauth2_redirect_url=redirect,
        )

    @app.get(redirect, include_in_schema=False)
    def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            _add_import_job(schema, prefix)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _add_import_job(schema: dict[str, Any], prefix: str) -> None:
    job = ImportJobOut.model_json_schema(ref_template="#/components/schemas/{model}")
    schema.setdefault("components", {}).setdefault("schemas", {})["ImportJob"] = job
    ref = {"$ref": "#/components/schemas/ImportJob"}
    for path, (method, status) in _JOB_PATHS.items():
        operation = schema.get("paths", {}).get(prefix + path, {}).get(method)
        if operation is None:
            continue
        response = operation.setdefault("responses", {}).setdefault(status, {})
        response.setdefault("description", "The import job")
        response["content"] = {"application/json": {"schema": ref}}
