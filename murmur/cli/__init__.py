"""The `murmur` command line: one module per command group, each with a `register()`.

Exit codes: 0 success; 2 a usage or configuration error (bad arguments, a missing or malformed
setting, an unreachable configured database, a file argument that cannot be used); 1 any other
failure (a service that fails, an import that fails, something named that does not exist).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# Modules that add subcommands: each has `register(subparsers) -> None`; a command sets
# `func(args) -> int` as its handler.
COMMAND_MODULES: tuple[str, ...] = (
    "murmur.cli.stack",
    "murmur.cli.contacts",
    "murmur.cli.demo",
    "murmur.cli.db",
    "murmur.cli.accounts",
    "murmur.cli.api",
    "murmur.cli.ingestion",
    "murmur.cli.dkim",
    "murmur.cli.campaigns",
    "murmur.cli.pipelines",
    "murmur.cli.dashboards",
)


class UsageError(Exception):
    """A command's arguments are wrong; the message names the argument (exit 2)."""


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


def error(message: str) -> None:
    """Print `murmur: error: message` on stderr."""
    print(f"murmur: error: {message}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    import psycopg
    from alembic.util import CommandError
    from sqlalchemy.exc import OperationalError

    from murmur.settings import SettingsError
    from murmur.stack.process import StackConfigError, StackError

    try:
        return int(args.func(args) or 0)
    except (UsageError, SettingsError, StackConfigError) as exc:
        error(str(exc))
        return 2
    except StackError as exc:  # a service failed to start, stop or answer
        error(str(exc))
        return 1
    except (OperationalError, psycopg.OperationalError) as exc:
        error(_postgres_unreachable(exc))
        return 2
    except CommandError as exc:  # alembic: unknown revision and the like
        error(f"migrations: {exc}")
        return 2
    except KeyboardInterrupt:
        print("murmur: interrupted", file=sys.stderr)
        return 130
