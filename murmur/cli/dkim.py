"""`murmur dkim keygen DOMAIN`: create a sending domain's DKIM key and print the DNS record."""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from typing import Any

from murmur.domain.dkim import ALGORITHMS, DkimError, dns_record, store_key
from murmur.settings import get_settings


def register(sub: Any) -> None:
    dkim = sub.add_parser("dkim", help="DKIM signing keys of sending domains")
    dsub = dkim.add_subparsers(dest="dkim_command", metavar="ACTION")
    dsub.required = True
    keygen = dsub.add_parser("keygen", help="generate and store a key; print the TXT record")
    keygen.add_argument("domain")
    keygen.add_argument("--account", required=True, help="account id (uuid)")
    keygen.add_argument("--selector", default="murmur", help="DKIM selector (default murmur)")
    keygen.add_argument("--algorithm", choices=ALGORITHMS, default="rsa")
    keygen.add_argument("--json", action="store_true", help="machine-readable output")
    keygen.set_defaults(func=_keygen)


def _keygen(args: argparse.Namespace) -> int:
    from sqlalchemy.exc import IntegrityError

    from murmur.crypto import CryptoError
    from murmur.db.engine import make_engine

    try:
        account_id = uuid.UUID(args.account)
    except ValueError:
        print(f"murmur: error: --account: not a uuid: {args.account!r}", file=sys.stderr)
        return 2
    settings = get_settings()
    engine = make_engine(settings.require("postgres_url"))
    try:
        with engine.begin() as conn:
            key = store_key(
                conn,
                account_id,
                args.domain,
                args.selector,
                args.algorithm,
                settings.secret_key or "",
            )
    except (DkimError, CryptoError) as exc:
        print(f"murmur: error: {exc}", file=sys.stderr)
        return 2
    except IntegrityError:
        print(f"murmur: error: --account: no account {account_id}", file=sys.stderr)
        return 2
    finally:
        engine.dispose()
    record = dns_record(key.domain, key.selector, key.algorithm, key.public_key)
    if args.json:
        out = {"domain": key.domain, "selector": key.selector, "algorithm": key.algorithm}
        print(json.dumps({**out, "dns_record": record}))
    else:
        print(f"Stored a {key.algorithm} key for {key.domain} (selector {key.selector}).")
        print("Publish this DNS record:")
        print(record)
    return 0
