"""`/suppressions`: addresses that must never be mailed (add, list, get, delete)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, ConfigDict

from murmur.api import crud
from murmur.api.deps import Editor, Engine, Viewer
from murmur.api.types import After, Email, IdPath, Limit, Offset, ShortText
from murmur.db.tables import suppressions
from murmur.domain.audit import audit
from murmur.domain.gdpr import lift_erasure
from murmur.domain.suppression import AddableReason, SuppressionReason, suppress

router = APIRouter(prefix="/suppressions", tags=["suppressions"])
Reason = AddableReason


class SuppressionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: Email
    reason: Reason = "manual"
    source: ShortText | None = None


class SuppressionOut(BaseModel):
    suppression_id: int
    account_id: uuid.UUID
    email: str
    reason: str
    source: str | None
    created_at: datetime


class SuppressionPage(crud.Page):
    items: list[SuppressionOut]  # type: ignore[assignment]


@router.post("", status_code=201, response_model=SuppressionOut)
def add_suppression(body: SuppressionIn, principal: Editor, engine: Engine) -> dict[str, Any]:
    """Suppress an address (idempotent: re-posting updates reason and source).

    `unsubscribe`, `bounce` and `complaint` also set a matching contact's status. An address
    under a GDPR erasure is refused (409): it stays suppressed by its hash only.
    """
    with engine.begin() as conn:
        return suppress(
            conn, principal.account_id, body.email, body.reason, body.source, principal.actor
        )


@router.get("", response_model=SuppressionPage)
def list_suppressions(
    principal: Viewer,
    engine: Engine,
    reason: SuppressionReason | None = None,
    email: Email | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
    after: After = None,
) -> dict[str, Any]:
    where = crud.equal_filters([(suppressions.c.reason, reason), (suppressions.c.email, email)])
    with engine.connect() as conn:
        return crud.page(
            conn,
            suppressions,
            principal.account_id,
            where=where,
            limit=limit,
            offset=offset,
            after=after,
        )


@router.get("/{suppression_id}", response_model=SuppressionOut)
def get_suppression(suppression_id: IdPath, principal: Viewer, engine: Engine) -> dict[str, Any]:
    with engine.connect() as conn:
        return crud.get_one(conn, suppressions, principal.account_id, suppression_id, "suppression")


@router.delete("/{suppression_id}", status_code=204)
def delete_suppression(suppression_id: IdPath, principal: Editor, engine: Engine) -> None:
    """Lift a suppression (the contact's status is unchanged).

    Lifting an `erasure` suppression needs an admin key and also deletes the GDPR tombstone of
    that address (same sha256), so a person who consents again can be added again (by
    `POST /contacts` or an import); it is audited as `erasure.lift`.
    """
    with engine.begin() as conn:
        row = crud.get_one(
            conn, suppressions, principal.account_id, suppression_id, "suppression", for_update=True
        )
        if row["reason"] == "erasure":
            if principal.role != "admin":
                raise HTTPException(403, "lifting an erasure suppression needs the admin role")
            lift_erasure(conn, principal.account_id, suppression_id, row["email"], principal.actor)
            return
        crud.delete_one(conn, suppressions, principal.account_id, suppression_id, "suppression")
        audit(
            conn,
            principal.account_id,
            principal.actor,
            "suppression.delete",
            "suppression",
            suppression_id,
            {"reason": row["reason"]},
        )
