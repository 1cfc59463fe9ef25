"""`/templates`: Jinja2 subject + HTML/text bodies; every update is kept as a version."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict

from murmur.api import crud
from murmur.api.deps import Editor, Engine, Viewer
from murmur.api.errors import conflict, field_error, not_found
from murmur.api.types import (
    After,
    IdPath,
    Limit,
    LongText,
    Name,
    Offset,
    RequiredLongText,
    RequiredText,
)
from murmur.db.tables import template_versions, templates
from murmur.domain import templates as domain
from murmur.domain.errors import DomainError
from murmur.domain.templates import InvalidTemplate, TemplateInUse

router = APIRouter(prefix="/templates", tags=["templates"])


class TemplateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name
    subject: RequiredText
    body_html: RequiredLongText
    body_text: LongText | None = None


class TemplatePatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name | None = None
    subject: RequiredText | None = None
    body_html: RequiredLongText | None = None
    body_text: LongText | None = None


class TemplateOut(BaseModel):
    template_id: int
    account_id: uuid.UUID
    name: str
    subject: str
    body_html: str
    body_text: str | None
    version: int
    created_at: datetime
    updated_at: datetime


class TemplateVersionOut(BaseModel):
    template_version_id: int
    template_id: int
    version: int
    name: str
    subject: str
    body_html: str
    body_text: str | None
    created_at: datetime


class TemplatePage(crud.Page):
    items: list[TemplateOut]  # type: ignore[assignment]


class TemplateVersionPage(crud.Page):
    items: list[TemplateVersionOut]  # type: ignore[assignment]


def _invalid(exc: InvalidTemplate) -> DomainError:
    return field_error(exc.field, exc.reason)


@router.post("", status_code=201, response_model=TemplateOut)
def create_template(body: TemplateIn, principal: Editor, engine: Engine) -> dict[str, Any]:
    """Create a template (version 1).

    Variables: `email`, `first_name`, `last_name`, `custom_fields` (e.g. `{{ first_name }}`),
    rendered in a Jinja2 sandbox under a budget (2 s, 200k loop iterations or calls, 10k items
    per `range`, 2M characters of output or of any value): a template over it fails to send
    with the budget named.
    """
    try:
        with engine.begin() as conn:
            return domain.create_template(
                conn, principal.account_id, body.model_dump(), principal.actor
            )
    except InvalidTemplate as exc:
        raise _invalid(exc) from None


@router.get("", response_model=TemplatePage)
def list_templates(
    principal: Viewer, engine: Engine, limit: Limit = 50, offset: Offset = 0, after: After = None
) -> dict[str, Any]:
    with engine.connect() as conn:
        return crud.page(
            conn, templates, principal.account_id, limit=limit, offset=offset, after=after
        )


@router.get("/{template_id}", response_model=TemplateOut)
def get_template(template_id: IdPath, principal: Viewer, engine: Engine) -> dict[str, Any]:
    with engine.connect() as conn:
        return crud.get_one(conn, templates, principal.account_id, template_id, "template")


@router.get("/{template_id}/versions", response_model=TemplateVersionPage)
def list_versions(
    template_id: IdPath,
    principal: Viewer,
    engine: Engine,
    limit: Limit = 50,
    offset: Offset = 0,
    after: After = None,
) -> dict[str, Any]:
    with engine.connect() as conn:
        crud.get_one(conn, templates, principal.account_id, template_id, "template")
        return crud.page(
            conn,
            template_versions,
            principal.account_id,
            where=[template_versions.c.template_id == template_id],
            limit=limit,
            offset=offset,
            after=after,
        )


@router.patch("/{template_id}", response_model=TemplateOut)
def update_template(
    template_id: IdPath, body: TemplatePatch, principal: Editor, engine: Engine
) -> dict[str, Any]:
    """Change content; bumps `version` and records the new version in the history."""
    values = body.model_dump(exclude_unset=True)
    try:
        with engine.begin() as conn:
            row = domain.update_template(
                conn, principal.account_id, template_id, values, principal.actor
            )
    except InvalidTemplate as exc:
        raise _invalid(exc) from None
    if row is None:
        raise not_found("template", template_id)
    return row


@router.delete("/{template_id}", status_code=204)
def delete_template(template_id: IdPath, principal: Editor, engine: Engine) -> None:
    """Delete a template no campaign uses (409 otherwise), with its version history."""
    try:
        with engine.begin() as conn:
            found = domain.delete_template(conn, principal.account_id, template_id, principal.actor)
    except TemplateInUse as exc:
        raise conflict(str(exc)) from None
    if not found:
        raise not_found("template", template_id)
