"""The FastAPI application factory: `create_app(settings)`, API under `/api/v1`."""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, HTTPException
from fastapi.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from murmur.api.docs import ERROR_RESPONSES, install_docs
from murmur.api.errors import install_error_handlers
from murmur.api.routes import contact_imports
from murmur.api.validation import SafeJSONResponse, install_validation_handlers
from murmur.db.engine import make_engine
from murmur.settings import Settings, get_settings

PREFIX = "/api/v1"
ROUTER_MODULES: tuple[str, ...] = (
    "murmur.api.routes.account",
    "murmur.api.routes.users",
    "murmur.api.routes.api_keys",
    "murmur.api.routes.contact_imports",  # before contacts: /contacts/imports is not an id
    "murmur.api.routes.contacts",
    "murmur.api.routes.gdpr",
    "murmur.api.routes.suppressions",
    "murmur.api.routes.segments",
    "murmur.api.routes.segment_refresh",
    "murmur.api.routes.templates",
    "murmur.api.routes.campaigns",
    "murmur.api.routes.esps",
    "murmur.api.routes.campaign_preview",
)
UPLOAD_PATHS = frozenset({f"{PREFIX}/contacts/import", f"{PREFIX}/contacts/imports"})


class BodyLimit:
    """Refuse request bodies over the limit with a 413 naming it (uploads have their own).

    The declared Content-Length is checked first; the bytes actually received are counted too,
    so a chunked or lying request stops as soon as it passes the limit.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, max_upload_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_upload_bytes = max_upload_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        upload = scope["path"].rstrip("/") in UPLOAD_PATHS
        limit = self.max_upload_bytes if upload else self.max_bytes
        message = f"the request body is larger than the {limit}-byte limit"
        declared = dict(scope.get("headers") or ()).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            response = SafeJSONResponse({"detail": message}, status_code=413)
            await response(scope, receive, send)
            return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message_in = await receive()
            if message_in["type"] == "http.request":
                received += len(message_in.get("body", b""))
                if received > limit:
                    raise HTTPException(413, message)
            return message_in

        await self.app(scope, limited, send)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; settings are read now (not at import) and the engine is created lazily."""
    settings = settings or get_settings()
    engine = make_engine(settings.require("postgres_url"))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(contact_imports.fail_interrupted_jobs, engine)
        yield
        engine.dispose()

    app = FastAPI(
        title="Murmuration API",
        version="1",
        description="Contacts, segments, templates, campaigns, suppressions and GDPR tools. "
        "Authenticate with `Authorization: Bearer <API key>`.",
        openapi_url=f"{PREFIX}/openapi.json",
        docs_url=None,  # served by install_docs from local files
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.engine = engine
    install_error_handlers(app)
    install_validation_handlers(app)
    app.add_middleware(
        BodyLimit,
        max_bytes=settings.api_max_body_bytes,
        max_upload_bytes=settings.api_max_upload_bytes,
    )
    for name in ROUTER_MODULES:
        router = importlib.import_module(name).router
        app.include_router(router, prefix=PREFIX, responses=ERROR_RESPONSES)
    install_docs(app, PREFIX)
    return app
