"""The `murmur` command line. Each command group lives in its own module with a `register()`."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# Modules that add subcommands: each has `register(subparsers) -> None`; a command sets
# `func(args) -> int` as its handler.
COMMAND_MODULES: tuple[str, ...] = (
    "murmur.cli_stack",
    "murmur.cli_contacts",
    "murmur.demo",
    "murmur.cli_db",
    "murmur.cli_account",
    "murmur.cli_api",
    "murmur.cli_dkim",
    "murmur.cli_campaigns",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="murmur", description="Murmuration: analytics-first email marketing."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def _postgres_unreachable(exc: Exception) -> str:
    """Name the variable and the (password-free) URL that was tried."""
    from murmur.settings import get_settings, redact_url

    settings = get_settings()
    url = settings.resolved().postgres_url or "?"
    source = (
        "MURMUR_POSTGRES_URL"
        if settings.postgres_url
        else f"the local stack in {settings.state_dir}; is it running? `murmur stack status`"
    )
    reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
    return f"cannot connect to Postgres at {redact_url(url)} (from {source}): {reason}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    import psycopg
    from alembic.util import CommandError
    from sqlalchemy.exc import OperationalError

    from murmur.settings import SettingsError
    from murmur.stack.process import StackError

    try:
        return int(args.func(args) or 0)
    except (SettingsError, StackError) as exc:
        print(f"murmur: error: {exc}", file=sys.stderr)
        return 2
    except (OperationalError, psycopg.OperationalError) as exc:
        print(f"murmur: error: {_postgres_unreachable(exc)}", file=sys.stderr)
        return 2
    except CommandError as exc:  # alembic: unknown revision and the like
        print(f"murmur: error: migrations: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("murmur: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
