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


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from murmur.settings import SettingsError
    from murmur.stack.process import StackError

    try:
        return int(args.func(args) or 0)
    except (SettingsError, StackError) as exc:
        print(f"murmur: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("murmur: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
