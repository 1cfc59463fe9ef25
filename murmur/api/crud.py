"""Account-scoped query helpers shared by the resource routers (a missing row raises NotFound)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel

from murmur.domain.errors import NotFound


class Page(BaseModel):
    """One page of a list: pass `next_after` as `after` (or add `limit` to `offset`)."""

    items: list[dict[str, Any]]
    limit: int
    next_after: int | None


def id_column(table: sa.Table) -> sa.Column[Any]:
    return next(iter(table.primary_key.columns))


def equal_filters(pairs: Sequence[tuple[sa.Column[Any], object]]) -> list[sa.ColumnElement[bool]]:
    """`column == value` for each pair whose value was given (None means "no filter")."""
    return [column == value for column, value in pairs if value is not None]


def page(
    conn: sa.Connection,
    table: sa.Table,
    account_id: uuid.UUID,
    *,
    where: Sequence[sa.ColumnElement[bool]] = (),
    columns: Sequence[sa.ColumnElement[Any]] | None = None,
    limit: int,
    offset: int = 0,
    after: int | None = None,
) -> dict[str, Any]:
    """Rows of `account_id` in id order, filtered by `where`, by keyset `after` and/or offset."""
    key = id_column(table)
    query = sa.select(*(columns or table.c)).where(table.c.account_id == account_id, *where)
    if after is not None:
        query = query.where(key > after)
    rows = conn.execute(query.order_by(key).limit(limit).offset(offset)).mappings().all()
    items = [dict(r) for r in rows]
    next_after = items[-1][key.name] if len(items) == limit else None
    return {"items": items, "limit": limit, "next_after": next_after}


def get_one(
    conn: sa.Connection,
    table: sa.Table,
    account_id: uuid.UUID,
    object_id: int,
    what: str,
    *,
    columns: Sequence[sa.ColumnElement[Any]] | None = None,
    for_update: bool = False,
) -> dict[str, Any]:
    """The row with this id in this account, or 404 (another account's row is also a 404)."""
    query = sa.select(*(columns or table.c)).where(
        table.c.account_id == account_id, id_column(table) == object_id
    )
    if for_update:
        query = query.with_for_update()
    row = conn.execute(query).mappings().one_or_none()
    if row is None:
        raise NotFound.of(what, object_id)
    return dict(row)


def insert_one(
    conn: sa.Connection, table: sa.Table, account_id: uuid.UUID, values: dict[str, Any]
) -> dict[str, Any]:
    """Insert one row of `account_id` and return it whole."""
    insert = table.insert().values(account_id=account_id, **values).returning(*table.c)
    return dict(conn.execute(insert).mappings().one())


def update_one(
    conn: sa.Connection,
    table: sa.Table,
    account_id: uuid.UUID,
    object_id: int,
    values: dict[str, Any],
    what: str,
) -> dict[str, Any]:
    if "updated_at" in table.c:
        values = {**values, "updated_at": sa.func.now()}
    row = (
        conn.execute(
            table.update()
            .where(table.c.account_id == account_id, id_column(table) == object_id)
            .values(**values)
            .returning(*table.c)
        )
        .mappings()
        .one_or_none()
    )
    if row is None:
        raise NotFound.of(what, object_id)
    return dict(row)


def delete_one(
    conn: sa.Connection, table: sa.Table, account_id: uuid.UUID, object_id: int, what: str
) -> None:
    done = conn.execute(
        table.delete().where(table.c.account_id == account_id, id_column(table) == object_id)
    )
    if done.rowcount == 0:
        raise NotFound.of(what, object_id)
