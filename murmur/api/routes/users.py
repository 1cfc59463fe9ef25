"""`/users` (admin): platform users of the account, passwords hashed with argon2."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from argon2 import PasswordHasher
from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from murmur.api import crud
from murmur.api.deps import Admin, Engine
from murmur.api.errors import field_error
from murmur.api.types import After, Email, IdPath, Limit, Offset, ShortText
from murmur.db.tables import users
from murmur.domain.accounts import Role
from murmur.domain.audit import audit

router = APIRouter(prefix="/users", tags=["users"])
_hasher = PasswordHasher()
_PUBLIC = [c for c in users.c if c.name != "password_hash"]


class UserIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: Email
    password: ShortText = Field(min_length=12, description="at least 12 characters")
    role: Role = "viewer"


class UserOut(BaseModel):
    user_id: int
    account_id: uuid.UUID
    email: str
    role: str
    created_at: datetime


class UserPage(crud.Page):
    items: list[UserOut]  # type: ignore[assignment]


@router.post("", status_code=201, response_model=UserOut)
def create_user(body: UserIn, principal: Admin, engine: Engine) -> dict[str, Any]:
    with engine.begin() as conn:
        exists = conn.execute(
            sa.select(users.c.user_id).where(
                users.c.account_id == principal.account_id, users.c.email == body.email
            )
        ).first()
        if exists is not None:
            raise field_error("email", "a user with this email already exists", 409)
        row = (
            conn.execute(
                users.insert()
                .values(
                    account_id=principal.account_id,
                    email=body.email,
                    password_hash=_hasher.hash(body.password),
                    role=body.role,
                )
                .returning(*_PUBLIC)
            )
            .mappings()
            .one()
        )
        audit(conn, principal.account_id, principal.actor, "user.create", "user", row["user_id"])
        return dict(row)


@router.get("", response_model=UserPage)
def list_users(
    principal: Admin, engine: Engine, limit: Limit = 50, offset: Offset = 0, after: After = None
) -> dict[str, Any]:
    with engine.connect() as conn:
        return crud.page(
            conn,
            users,
            principal.account_id,
            columns=_PUBLIC,
            limit=limit,
            offset=offset,
            after=after,
        )


@router.get("/{user_id}", response_model=UserOut)
def get_user(user_id: IdPath, principal: Admin, engine: Engine) -> dict[str, Any]:
    with engine.connect() as conn:
        return crud.get_one(conn, users, principal.account_id, user_id, "user", columns=_PUBLIC)


@router.delete("/{user_id}", status_code=204)
def delete_user(user_id: IdPath, principal: Admin, engine: Engine) -> None:
    with engine.begin() as conn:
        crud.delete_one(conn, users, principal.account_id, user_id, "user")
        audit(conn, principal.account_id, principal.actor, "user.delete", "user", user_id)
