"""ClickHouse-style errors: code, symbolic name, HTTP status and response body."""

from __future__ import annotations

import re

_CODE_RE = re.compile(r"Code: (\d+)\.")
_NAME_RE = re.compile(r"\(([A-Z][A-Z0-9_]+)\)\s*$")

# The subset of ClickHouse's exception → HTTP status mapping that clients can observe.
# 429/503/504 are never used: clickhouse-connect retries those.
_STATUS = {
    516: 401,
    194: 401,
    497: 403,
    60: 404,
    81: 404,
    62: 400,
    27: 400,
    6: 400,
    26: 400,
    38: 400,
    41: 400,
    43: 400,
    46: 400,
    47: 400,
    53: 400,
    115: 400,
    117: 400,
    372: 404,
    373: 500,
    307: 413,
}

NAMES = {
    1: "UNSUPPORTED_METHOD",
    62: "SYNTAX_ERROR",
    115: "UNKNOWN_SETTING",
    159: "TIMEOUT_EXCEEDED",
    210: "NETWORK_ERROR",
    307: "TOO_MANY_BYTES",
    372: "SESSION_NOT_FOUND",
    373: "SESSION_IS_LOCKED",
    516: "AUTHENTICATION_FAILED",
    1001: "STD_EXCEPTION",
}


class ChError(Exception):
    """An error to report to the client the way ClickHouse would."""

    def __init__(self, code: int, message: str, name: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.name = name or _name_of(message) or NAMES.get(code, "")

    @property
    def http_status(self) -> int:
        return _STATUS.get(self.code, 500)

    def body(self, version: str) -> bytes:
        """Render ``Code: N. DB::Exception: ... (NAME) (version V)`` as ClickHouse does."""
        text = self.message.strip()
        if not text.startswith("Code:"):
            text = f"Code: {self.code}. DB::Exception: {text}"
        if self.name and not _NAME_RE.search(text):
            text = f"{text} ({self.name})"
        return f"{text} (version {version})\n".encode()


def _name_of(message: str) -> str | None:
    m = _NAME_RE.search(message)
    return m.group(1) if m else None


def from_engine(exc: BaseException) -> ChError:
    """Turn a chdb exception (``Code: 60. DB::Exception: ... (UNKNOWN_TABLE)``) into a ChError."""
    message = str(exc).strip()
    codes = _CODE_RE.findall(message)
    if not codes:
        return ChError(1001, message or type(exc).__name__, "STD_EXCEPTION")
    # chdb sometimes prefixes a wrapper error; the last code is the root cause.
    last = message.rfind("Code: ")
    root = message[last:] if last > 0 and len(codes) > 1 else message
    return ChError(int(codes[-1]), root, _name_of(root))
