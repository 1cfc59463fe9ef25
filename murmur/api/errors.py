"""Error responses: always JSON `{"detail": ...}`; bad input is a 4xx, never a 5xx."""

from __future__ import annotations

import logging

import sqlalchemy as sa
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse

log = logging.getLogger(__name__)


def field_error(field: str, msg: str, status: int = 422, where: str = "body") -> HTTPException:
    """An error naming the offending field, shaped like FastAPI's validation errors."""
    kind = "conflict" if status == 409 else "value_error"
    return HTTPException(status, [{"loc": [where, field], "msg": msg, "type": kind}])


def not_found(what: str, object_id: object) -> HTTPException:
    return HTTPException(404, f"{what} {object_id} not found")


def conflict(msg: str) -> HTTPException:
    return HTTPException(409, msg)


def _first_line(exc: sa.exc.DBAPIError) -> str:
    return str(exc.orig).splitlines()[0] if exc.orig is not None else "database error"


async def _data_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, sa.exc.DBAPIError)
    log.info("rejected input at %s: %s", request.url.path, _first_line(exc))
    return JSONResponse({"detail": f"invalid value: {_first_line(exc)}"}, status_code=422)


async def _integrity_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, sa.exc.DBAPIError)
    log.info("conflict at %s: %s", request.url.path, _first_line(exc))
    return JSONResponse({"detail": f"conflict: {_first_line(exc)}"}, status_code=409)


async def _unavailable(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, sa.exc.DBAPIError)
    log.error("database unavailable at %s: %s", request.url.path, _first_line(exc))
    return JSONResponse({"detail": "database unavailable, retry later"}, status_code=503)


def install_error_handlers(app: FastAPI) -> None:
    """Backstops for values only the database rejects (specific checks come first in routes)."""
    app.add_exception_handler(sa.exc.DataError, _data_error)
    app.add_exception_handler(sa.exc.IntegrityError, _integrity_error)
    app.add_exception_handler(sa.exc.OperationalError, _unavailable)
