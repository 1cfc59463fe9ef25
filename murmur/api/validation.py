"""422 answers in one documented shape, that never echo the input and always encode.

`{"detail": [{"loc": [...], "msg": "...", "type": "..."}]}` for every 422: request validation
errors (FastAPI's default echoes `input`, which may be a password or a key, and fails to encode a
lone surrogate such as U+D800, answering 500) and `HTTPException(422, "text")` from routes.
Text that cannot be stored (lone surrogates) is a 422 too, wherever it is found.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException


class SafeJSONResponse(JSONResponse):
    """JSON that always encodes: lone surrogates become U+FFFD, NaN is refused at the source."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode(
            "utf-8", "replace"
        )


def _text(value: Any) -> Any:
    if isinstance(value, str):
        return value.encode("utf-8", "replace").decode("utf-8")
    return value if isinstance(value, int) else str(value)


def clean_errors(errors: Any) -> list[dict[str, Any]]:
    """Only `loc`, `msg` and `type` of each error: never the input, never its context."""
    cleaned = []
    for error in errors:
        cleaned.append(
            {
                "loc": [_text(part) for part in error.get("loc", ())],
                "msg": _text(str(error.get("msg", ""))),
                "type": _text(str(error.get("type", "value_error"))),
            }
        )
    return cleaned


async def _validation_error(request: Request, exc: Exception) -> Response:
    errors = exc.errors() if isinstance(exc, RequestValidationError) else []
    return SafeJSONResponse({"detail": clean_errors(errors)}, status_code=422)


async def _http_error(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, StarletteHTTPException):
        raise exc
    if exc.status_code != 422:
        return await http_exception_handler(request, exc)
    detail = exc.detail
    if isinstance(detail, list):
        errors = clean_errors(d for d in detail if isinstance(d, dict))
    else:
        errors = [{"loc": ["body"], "msg": _text(str(detail)), "type": "value_error"}]
    return SafeJSONResponse({"detail": errors}, status_code=422, headers=exc.headers)


async def _unencodable(request: Request, exc: Exception) -> Response:
    msg = "text must be valid Unicode (no lone surrogates such as \\ud800)"
    return SafeJSONResponse(
        {"detail": [{"loc": ["body"], "msg": msg, "type": "value_error"}]}, status_code=422
    )


def install_validation_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(UnicodeEncodeError, _unencodable)
