"""`murmur contacts import FILE --account ID`: import a CSV with a progress bar on stderr."""

from __future__ import annotations

import argparse
import getpass
import math
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any, TextIO

from murmur.cli import UsageError, error
from murmur.db.engine import libpq_url
from murmur.settings import get_settings


def positive_mb(value: str) -> float:
    """An argparse type: a size in MiB greater than 0."""
    try:
        mb = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {value!r}") from None
    if not math.isfinite(mb) or mb <= 0:
        raise argparse.ArgumentTypeError(f"must be a number of MiB greater than 0, got {value}")
    return mb


def register(sub: Any) -> None:
    contacts = sub.add_parser("contacts", help="contact tools (CSV import)")
    csub = contacts.add_subparsers(dest="contacts_command", metavar="ACTION")
    csub.required = True
    imp = csub.add_parser("import", help="import a CSV file of contacts into an account")
    imp.add_argument("file", type=Path, metavar="FILE", help="CSV, UTF-8 (a BOM is fine)")
    imp.add_argument("--account", required=True, type=uuid.UUID, help="account id (uuid)")
    imp.add_argument("--actor", default=None, help="name for the audit log (default: cli:$USER)")
    imp.add_argument("--max-mb", type=positive_mb, default=None, help="refuse larger files (512)")
    imp.add_argument("--errors", type=Path, default=None, help="write the error report here")
    imp.set_defaults(func=_import)
    errs = csub.add_parser("import-errors", help="print an import's error report (CSV)")
    errs.add_argument("import_id", type=uuid.UUID)
    errs.add_argument("--account", required=True, type=uuid.UUID)
    errs.set_defaults(func=_errors)


class ProgressBar:
    """`[#####.....] 120,000 / 1,000,000 rows  12%` on one redrawn line of stderr."""

    def __init__(self, stream: TextIO | None = None, width: int = 30, every: float = 0.1) -> None:
        # sys.stderr now, not at import: it may have been replaced since (pytest's capture does)
        self.stream = stream if stream is not None else sys.stderr
        self.width, self.every = width, every
        self.last = 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if now - self.last < self.every and done < total:
            return
        self.last = now
        frac = done / total if total else 1.0
        bar = "#" * int(frac * self.width)
        self.stream.write(f"\r[{bar:.<{self.width}}] {done:,} / {total:,} rows {frac:4.0%}   ")
        self.stream.flush()

    def close(self) -> None:
        self.stream.write("\n")
        self.stream.flush()


def _check_report_path(path: Path | None) -> None:
    """Refuse an --errors path that cannot be written, before anything is imported."""
    if path is None:
        return
    parent = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise UsageError(f"--errors {path}: is a directory")
    if not parent.is_dir():
        raise UsageError(f"--errors {path}: directory {parent} does not exist")
    if not os.access(parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise UsageError(f"--errors {path}: not writable")


def _account_exists(url: str, account_id: uuid.UUID) -> bool:
    from murmur.db.engine import make_engine
    from murmur.domain.accounts import account_exists

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return account_exists(conn, account_id)
    finally:
        engine.dispose()


def _import(args: argparse.Namespace) -> int:
    import psycopg

    from murmur.contacts_import import jobs, store
    from murmur.contacts_import.errors import ImportRefused
    from murmur.contacts_import.reader import DEFAULT_MAX_BYTES, preflight

    db_url = get_settings().require("postgres_url")
    url = libpq_url(db_url)
    max_bytes = int(args.max_mb * 1024 * 1024) if args.max_mb else DEFAULT_MAX_BYTES
    if not args.file.is_file():
        raise UsageError(f"{args.file}: no such file")
    _check_report_path(args.errors)
    try:
        csv = preflight(args.file, max_bytes)
    except ImportRefused as exc:
        raise UsageError(f"{args.file}: refused: {exc.reason}") from None
    if not _account_exists(db_url, args.account):
        error(f"no account {args.account}")
        return 1
    actor = args.actor or f"cli:{getpass.getuser()}"
    with (
        psycopg.connect(url, autocommit=True) as conn,
        psycopg.connect(url, autocommit=True) as status_conn,
    ):
        import_id = jobs.queue_job(conn, args.account, csv, actor, args.file.name)
        print(f"import {import_id}: {csv.estimated_rows:,} rows (estimated)", file=sys.stderr)
        bar = ProgressBar()
        try:
            result = jobs.execute_job(
                conn, status_conn, import_id, args.account, csv, actor, args.file.name, bar
            )
        finally:
            bar.close()
        job = store.get_job(conn, args.account, import_id) or {}
        if args.errors is not None:
            try:
                with args.errors.open("wb") as out:
                    for chunk in store.iter_error_report(conn, import_id, account_id=args.account):
                        out.write(chunk)
            except OSError as exc:
                error(
                    f"--errors {args.errors}: {exc.strerror or exc}; the import finished, read its "
                    f"report with `murmur contacts import-errors {import_id} --account "
                    f"{args.account}`"
                )
                return 1
    if result is None:
        print(f"import {import_id} failed, nothing imported: {job.get('error')}", file=sys.stderr)
        return 1
    print(
        f"import {import_id} succeeded: {result.total_rows:,} rows: {result.inserted:,} new, "
        f"{result.updated:,} updated, {result.unchanged:,} unchanged, "
        f"{result.duplicates:,} duplicates (last row won), {result.error_rows:,} rejected"
    )
    if result.error_rows or result.duplicates:
        where = args.errors or f"murmur contacts import-errors {import_id} --account {args.account}"
        print(f"error report: {where}")
    return 0


def _errors(args: argparse.Namespace) -> int:
    import psycopg

    from murmur.contacts_import import store

    url = libpq_url(get_settings().require("postgres_url"))
    with psycopg.connect(url, autocommit=True) as conn:
        if store.get_job(conn, args.account, args.import_id) is None:
            error(f"no import {args.import_id} in this account")
            return 1
        for chunk in store.iter_error_report(conn, args.import_id, account_id=args.account):
            sys.stdout.buffer.write(chunk)
    sys.stdout.flush()
    return 0
