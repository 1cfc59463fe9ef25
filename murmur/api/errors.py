"""Error responses: always JSON `{"detail": ...}`; bad input is a 4xx, never a 5xx."""

from __future__ import annotations

import logging

import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from murmur.domain.errors import Conflict, DomainError, InvalidInput, NotFound

log = logging.getLogger(__name__)
_STATUS: dict[type[DomainError], int] = {NotFound: 404, Conflict: 409, InvalidInput: 422}


def field_error(field: str, msg: str, status: int = 422, where: str = "body") -> DomainError:
    """An error naming the offending field, shaped like FastAPI's validation errors."""
    if status == 409:
        return Conflict(msg, field, where)
    if status != 422:
        raise ValueError(f"field errors are 409 or 422, not {status}")
    return InvalidInput(msg, field, where)


def not_found(what: str, object_id: object) -> NotFound:
    return NotFound.of(what, object_id)


def conflict(msg: str) -> Conflict:
    return Conflict(msg)


def status_of(exc: DomainError) -> int:
    """The HTTP status of a domain error (a plain DomainError is a 422)."""
    for kind, status in _STATUS.items():
        if isinstance(exc, kind):
            return status
    return 422


def domain_error_body(exc: DomainError) -> dict[str, object]:
    """`{"detail": message}`, or the validation shape when the error names a field."""
    if exc.loc is None:
        return {"detail": exc.message}
    return {"detail": [{"loc": exc.loc, "msg": exc.message, "type": exc.kind}]}


async def _domain_error(request: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, DomainError):  # pragma: no cover - registered for DomainError only
        raise exc
    return JSONResponse(domain_error_body(exc), status_code=status_of(exc))


def _first_line(exc: Exception) -> str:
    orig = getattr(exc, "orig", None)
    return str(orig).splitlines()[0] if orig is not None else "database error"


async def _data_error(request: Request, exc: Exception) -> JSONResponse:
    log.info("rejected input at %s: %s", request.url.path, _first_line(exc))
    # the documented validation shape; the database does not say which field, so `loc` is the body
    detail = [{"loc": ["body"], "msg": f"invalid value: {_first_line(exc)}", "type": "value_error"}]
    return JSONResponse({"detail": detail}, status_code=422)


async def _integrity_error(request: Request, exc: Exception) -> JSONResponse:
    log.info("conflict at %s: %s", request.url.path, _first_line(exc))
    return JSONResponse({"detail": f"conflict: {_first_line(exc)}"}, status_code=409)


async def _unavailable(request: Request, exc: Exception) -> JSONResponse:
    log.error("database unavailable at %s: %s", request.url.path, _first_line(exc))
    return JSONResponse({"detail": "database unavailable, retry later"}, status_code=503)


def install_error_handlers(app: FastAPI) -> None:
    """Backstops for values only the database rejects (specific checks come first in routes)."""
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(sa.exc.DataError, _data_error)
    app.add_exception_handler(sa.exc.IntegrityError, _integrity_error)
    app.add_exception_handler(sa.exc.OperationalError, _unavailable)
