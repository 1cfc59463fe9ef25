"""`murmur account create` and `murmur apikey create|revoke`: bootstrap tenants and keys."""

from __future__ import annotations

import argparse
import json
import uuid
from typing import Any

from murmur.cli import UsageError, error
from murmur.domain.accounts import ROLES
from murmur.settings import get_settings


def register(sub: Any) -> None:
    account = sub.add_parser("account", help="create accounts")
    asub = account.add_subparsers(dest="account_command", metavar="ACTION")
    asub.required = True
    create = asub.add_parser("create", help="create an account and print an admin API key")
    create.add_argument("name")
    create.add_argument("--postal-address", help="physical address for the email footer")
    create.add_argument("--from-name", help="default sender name")
    create.add_argument("--from-email", help="default sender address")
    create.add_argument("--reply-to", help="default reply-to address")
    create.add_argument("--plan", default="free")
    create.add_argument("--json", action="store_true", help="machine-readable output")
    create.set_defaults(func=_account_create)

    apikey = sub.add_parser("apikey", help="create or revoke API keys")
    ksub = apikey.add_subparsers(dest="apikey_command", metavar="ACTION")
    ksub.required = True
    kcreate = ksub.add_parser("create", help="create a key (shown once)")
    kcreate.add_argument("--account", required=True, help="account id (uuid)")
    kcreate.add_argument("--role", required=True, choices=ROLES)
    kcreate.add_argument("--name")
    kcreate.add_argument("--json", action="store_true", help="machine-readable output")
    kcreate.set_defaults(func=_key_create)
    revoke = ksub.add_parser("revoke", help="revoke a key by its prefix (mm_<prefix>_...)")
    revoke.add_argument("prefix")
    revoke.set_defaults(func=_key_revoke)


def _engine() -> Any:
    from murmur.db.engine import make_engine

    return make_engine(get_settings().require("postgres_url"))


def _normalized(option: str, value: str | None) -> str | None:
    from murmur.email_address import InvalidEmail, normalize_email

    if value is None:
        return None
    try:
        return normalize_email(value)
    except InvalidEmail as exc:
        raise UsageError(f"{option}: {exc}") from None


def _account_name(value: str) -> str:
    """The name checked by the API's own rule for account names (length limit, no NUL)."""
    from pydantic import TypeAdapter, ValidationError

    from murmur.api.types import Name

    try:
        return str(TypeAdapter(Name).validate_python(value))
    except ValidationError as exc:
        reason = exc.errors()[0]["msg"]
        raise UsageError(f"NAME: {reason} ({len(value)} given)") from None


def _account_create(args: argparse.Namespace) -> int:
    from murmur.domain.accounts import create_account, create_api_key

    name = _account_name(args.name)
    fields = {
        "plan": args.plan,
        "postal_address": args.postal_address,
        "default_from_name": args.from_name,
        "default_from_email": _normalized("--from-email", args.from_email),
        "default_reply_to": _normalized("--reply-to", args.reply_to),
    }
    engine = _engine()
    try:
        with engine.begin() as conn:
            account_id = create_account(conn, name, **fields)
            row, key = create_api_key(conn, account_id, "admin", "bootstrap admin")
    finally:
        engine.dispose()
    if args.json:
        print(json.dumps({"account_id": str(account_id), "api_key": key, "prefix": row["prefix"]}))
    else:
        print(f"account {account_id} created")
        print(f"admin API key (shown once): {key}")
    return 0


def _key_create(args: argparse.Namespace) -> int:
    from murmur.domain.accounts import account_exists, create_api_key

    try:
        account_id = uuid.UUID(args.account)
    except ValueError:
        raise UsageError(f"--account: not a uuid: {args.account!r}") from None
    engine = _engine()
    try:
        with engine.begin() as conn:
            if not account_exists(conn, account_id):
                error(f"account {account_id} not found")
                return 1
            row, key = create_api_key(conn, account_id, args.role, args.name)
    finally:
        engine.dispose()
    if args.json:
        out = {"api_key_id": row["api_key_id"], "prefix": row["prefix"], "api_key": key}
        print(json.dumps(out))
    else:
        print(f"{args.role} API key (shown once): {key}")
    return 0


def _key_revoke(args: argparse.Namespace) -> int:
    from murmur.domain.accounts import revoke_api_key

    prefix = args.prefix
    if prefix.startswith("mm_"):
        prefix = prefix.split("_")[1]
    engine = _engine()
    try:
        with engine.begin() as conn:
            row = revoke_api_key(conn, prefix=prefix)
    finally:
        engine.dispose()
    if row is None:
        error(f"no API key with prefix {prefix!r}")
        return 1
    print(f"API key {prefix} revoked at {row['revoked_at']:%Y-%m-%d %H:%M:%S%z}")
    return 0
