"""`/templates`: Jinja2 subject + HTML/text bodies; every update is kept as a version."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict

from murmur.api import crud
from murmur.api.deps import Editor, Engine, Viewer
from murmur.api.errors import conflict, field_error
from murmur.api.types import After, IdPath, Limit, LongText, Name, Offset, ShortText
from murmur.db.tables import campaigns, template_versions, templates
from murmur.domain.audit import audit
from murmur.domain.rendering import RenderError, check_syntax

router = APIRouter(prefix="/templates", tags=["templates"])
_CONTENT = ("name", "subject", "body_html", "body_text")


class TemplateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name
    subject: ShortText
    body_html: LongText
    body_text: LongText | None = None


class TemplatePatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name | None = None
    subject: ShortText | None = None
    body_html: LongText | None = None
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


def _check(values: dict[str, Any]) -> None:
    for field in ("name", "subject", "body_html"):
        if field in values and values[field] is None:
            raise field_error(field, "must not be null")
    for field in ("subject", "body_html", "body_text"):
        if values.get(field):
            try:
                check_syntax(values[field])
            except RenderError as exc:
                raise field_error(field, f"template syntax error: {exc}") from None


def _snapshot(conn: sa.Connection, row: dict[str, Any]) -> None:
    conn.execute(
        template_versions.insert().values(
            account_id=row["account_id"],
            template_id=row["template_id"],
            version=row["version"],
            **{k: row[k] for k in _CONTENT},
        )
    )


@router.post("", status_code=201, response_model=TemplateOut)
def create_template(body: TemplateIn, principal: Editor, engine: Engine) -> dict[str, Any]:
    """Create a template (version 1).

    Variables: `email`, `first_name`, `last_name`, `custom_fields` (e.g. `{{ first_name }}`),
    rendered in a Jinja2 sandbox.
    """
    values = body.model_dump()
    _check(values)
    with engine.begin() as conn:
        row = crud.insert_one(conn, templates, principal.account_id, values)
        _snapshot(conn, row)
        audit(
            conn,
            principal.account_id,
            principal.actor,
            "template.create",
            "template",
            row["template_id"],
        )
        return row


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
    _check(values)
    with engine.begin() as conn:
        current = crud.get_one(
            conn, templates, principal.account_id, template_id, "template", for_update=True
        )
        if not values:
            return current
        values["version"] = current["version"] + 1
        row = crud.update_one(
            conn, templates, principal.account_id, template_id, values, "template"
        )
        _snapshot(conn, row)
        audit(
            conn,
            principal.account_id,
            principal.actor,
            "template.update",
            "template",
            template_id,
            {"version": row["version"]},
        )
        return row


@router.delete("/{template_id}", status_code=204)
def delete_template(template_id: IdPath, principal: Editor, engine: Engine) -> None:
    """Delete a template no campaign uses (409 otherwise), with its version history."""
    with engine.begin() as conn:
        crud.get_one(
            conn, templates, principal.account_id, template_id, "template", for_update=True
        )
        used = conn.execute(
            sa.select(campaigns.c.campaign_id).where(
                campaigns.c.account_id == principal.account_id,
                campaigns.c.template_id == template_id,
            )
        ).first()
        if used is not None:
            raise conflict(f"template {template_id} is used by campaign {used[0]}")
        crud.delete_one(conn, templates, principal.account_id, template_id, "template")
        audit(
            conn, principal.account_id, principal.actor, "template.delete", "template", template_id
        )
