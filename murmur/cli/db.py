"""`murmur db ...`: apply or roll back the app database migrations."""

from __future__ import annotations

import argparse
from typing import Any

from murmur.settings import get_settings


def register(sub: Any) -> None:
    db = sub.add_parser("db", help="app database migrations (Alembic)")
    dsub = db.add_subparsers(dest="db_command", metavar="ACTION")
    dsub.required = True
    up = dsub.add_parser("upgrade", help="migrate the database up (to head by default)")
    up.add_argument("--revision", default="head", help="target revision (default: head)")
    up.set_defaults(func=_upgrade)
    down = dsub.add_parser("downgrade", help="migrate the database down to REVISION")
    down.add_argument("revision", help="target revision, e.g. base or 0001")
    down.set_defaults(func=_downgrade)
    current = dsub.add_parser("current", help="print the database's revision")
    current.set_defaults(func=_current)


def _url() -> str:
    return get_settings().require("postgres_url")


def _upgrade(args: argparse.Namespace) -> int:
    from murmur.db.migrate import current, upgrade

    url = _url()
    upgrade(url, args.revision)
    print(f"database at revision {current(url) or 'base'}")
    return 0


def _downgrade(args: argparse.Namespace) -> int:
    from murmur.db.migrate import current, downgrade

    url = _url()
    downgrade(url, args.revision)
    print(f"database at revision {current(url) or 'base'}")
    return 0


def _current(args: argparse.Namespace) -> int:
    from murmur.db.migrate import current

    print(current(_url()) or "base")
    return 0
