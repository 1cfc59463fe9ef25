"""Server configuration and the URL parameters the server (not ClickHouse) interprets."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# URL parameters that are part of the HTTP protocol, never forwarded as settings.
RESERVED_PARAMS = frozenset(
    {
        "query",
        "database",
        "session_id",
        "session_timeout",
        "session_check",
        "close_session",
        "query_id",
        "compress",
        "decompress",
        "wait_end_of_query",
        "client_protocol_version",
        "user",
        "password",
        "default_format",
        "role",
        "quota_key",
        "buffer_size",
    }
)

# Settings that only steer the HTTP layer; the server consumes them itself.
HTTP_ONLY_SETTINGS = frozenset(
    {
        "enable_http_compression",
        "http_zlib_compression_level",
        "send_progress_in_http_headers",
        "http_headers_progress_interval_ms",
        "cancel_http_readonly_queries_on_client_close",
        "http_wait_end_of_query",
        "http_response_buffer_size",
    }
)

DEFAULT_SESSION_TIMEOUT = 60.0
MAX_SESSION_TIMEOUT = 3600.0
MAX_QUERY_SIZE = 4 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """Everything `serve` needs; built by the command line or by a caller.

    Attributes:
        data_dir: chdb data directory; this process takes an exclusive lock on it.
        host: interface to bind.
        port: TCP port; 0 picks a free one (reported in the ready line).
        user: required user name, or None to accept any credentials.
        password: password for ``user``.
        log_file: JSON-lines statement log; None logs to stderr.
        query_timeout: default ``max_execution_time`` in seconds (0 = none).
        max_body_bytes: cap on a request body, before and after decompression.
        shutdown_grace: seconds to let in-flight requests finish on SIGTERM.
    """

    data_dir: Path
    host: str = "127.0.0.1"
    port: int = 8123
    user: str | None = None
    password: str = ""
    log_file: Path | None = None
    query_timeout: float = 300.0
    max_body_bytes: int = 2 * 1024**3
    shutdown_grace: float = 30.0
