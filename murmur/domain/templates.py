"""Templates: content rules and versioning.

A template is a Jinja2 subject plus HTML and text bodies. Every write bumps `version` and keeps
the new content in `template_versions`, so a scheduled campaign can render exactly the version
it was checked with (`pinned_version`).
"""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa

from murmur.db.tables import campaigns, template_versions, templates
from murmur.domain.audit import audit
from murmur.domain.rendering import RenderError, check_syntax

CONTENT = ("name", "subject", "body_html", "body_text")
REQUIRED = ("name", "subject", "body_html")
JINJA_FIELDS = ("subject", "body_html", "body_text")


class InvalidTemplate(ValueError):
    """A template field breaks a rule; `field` names it."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class TemplateInUse(ValueError):
    """The template cannot be deleted: a campaign uses it."""


def check_content(values: dict[str, Any]) -> None:
    """InvalidTemplate for a required field set to null or blank, or a Jinja syntax error."""
    for field in REQUIRED:
        if field in values and (values[field] is None or not str(values[field]).strip()):
            raise InvalidTemplate(field, "must not be null or blank")
    for field in JINJA_FIELDS:
        if values.get(field):
            try:
                check_syntax(values[field])
            except RenderError as exc:
                raise InvalidTemplate(field, f"template syntax error: {exc}") from None


def _where(account_id: uuid.UUID, template_id: int) -> list[sa.ColumnElement[bool]]:
    return [templates.c.account_id == account_id, templates.c.template_id == template_id]


def _snapshot(conn: sa.Connection, row: dict[str, Any]) -> None:
    conn.execute(
        template_versions.insert().values(
            account_id=row["account_id"],
            template_id=row["template_id"],
            version=row["version"],
            **{k: row[k] for k in CONTENT},
        )
    )


def create_template(
    conn: sa.Connection, account_id: uuid.UUID, values: dict[str, Any], actor: str
) -> dict[str, Any]:
    """Insert a template (version 1) and its first history entry."""
    check_content(values)
    content = {k: values.get(k) for k in CONTENT}
    insert = templates.insert().values(account_id=account_id, **content).returning(*templates.c)
    row = dict(conn.execute(insert).mappings().one())
    _snapshot(conn, row)
    audit(conn, account_id, actor, "template.create", "template", row["template_id"])
    return row


def get_template(
    conn: sa.Connection, account_id: uuid.UUID, template_id: int, for_update: bool = False
) -> dict[str, Any] | None:
    query = sa.select(templates).where(*_where(account_id, template_id))
    if for_update:
        query = query.with_for_update()
    row = conn.execute(query).mappings().one_or_none()
    return dict(row) if row is not None else None


def update_template(
    conn: sa.Connection,
    account_id: uuid.UUID,
    template_id: int,
    values: dict[str, Any],
    actor: str,
) -> dict[str, Any] | None:
    """Change content (row-locked): bumps `version` and records it; None if not found."""
    check_content(values)
    current = get_template(conn, account_id, template_id, for_update=True)
    if current is None or not values:
        return current
    changes = {k: values[k] for k in CONTENT if k in values}
    row = (
        conn.execute(
            templates.update()
            .where(*_where(account_id, template_id))
            .values(**changes, version=current["version"] + 1, updated_at=sa.func.now())
            .returning(*templates.c)
        )
        .mappings()
        .one()
    )
    _snapshot(conn, dict(row))
    details = {"version": row["version"]}
    audit(conn, account_id, actor, "template.update", "template", template_id, details)
    return dict(row)


def delete_template(
    conn: sa.Connection, account_id: uuid.UUID, template_id: int, actor: str
) -> bool:
    """Delete a template and its history; TemplateInUse if a campaign uses it; False if absent."""
    if get_template(conn, account_id, template_id, for_update=True) is None:
        return False
    used = conn.execute(
        sa.select(campaigns.c.campaign_id).where(
            campaigns.c.account_id == account_id, campaigns.c.template_id == template_id
        )
    ).first()
    if used is not None:
        raise TemplateInUse(f"template {template_id} is used by campaign {used[0]}")
    conn.execute(templates.delete().where(*_where(account_id, template_id)))
    audit(conn, account_id, actor, "template.delete", "template", template_id)
    return True


def pinned_version(
    conn: sa.Connection, account_id: uuid.UUID, template_id: int, version: int
) -> dict[str, Any] | None:
    """The content of one recorded version of a template (what a scheduled campaign renders)."""
    row = (
        conn.execute(
            sa.select(template_versions).where(
                template_versions.c.account_id == account_id,
                template_versions.c.template_id == template_id,
                template_versions.c.version == version,
            )
        )
        .mappings()
        .one_or_none()
    )
    return dict(row) if row is not None else None
