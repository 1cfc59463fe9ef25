"""`murmur api serve`: run the REST API in the foreground with uvicorn."""

from __future__ import annotations

import argparse
from typing import Any

from murmur.settings import get_settings


def register(sub: Any) -> None:
    api = sub.add_parser("api", help="the REST API (/api/v1)")
    asub = api.add_subparsers(dest="api_command", metavar="ACTION")
    asub.required = True
    serve = asub.add_parser("serve", help="serve the API in the foreground (Ctrl-C stops)")
    serve.add_argument("--host", help="bind address (default: MURMUR_API_HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default: MURMUR_API_PORT or 8000)")
    serve.set_defaults(func=_serve)


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from murmur.api.app import create_app

    settings = get_settings()
    app = create_app(settings)
    host = args.host or settings.api_host
    port = args.port or settings.api_port
    print(f"Murmuration API on http://{host}:{port}/api/v1/docs", flush=True)
    uvicorn.run(app, host=host, port=port, log_level="info")
    return 0
