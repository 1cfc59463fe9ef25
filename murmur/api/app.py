"""The FastAPI application factory: `create_app(settings)`, API under `/api/v1`."""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool

from murmur.api.errors import install_error_handlers
from murmur.api.routes import contact_imports
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
    "murmur.api.routes.templates",
    "murmur.api.routes.campaigns",
)


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
        docs_url=f"{PREFIX}/docs",
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.engine = engine
    install_error_handlers(app)
    for name in ROUTER_MODULES:
        app.include_router(importlib.import_module(name).router, prefix=PREFIX)
    return app
