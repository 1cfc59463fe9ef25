"""`murmur campaigns send ID [--follow]`: dispatch a campaign now, following it in the ledger.

murmur does not import the sender: it starts `python -m sender send ID --shard K --shards N`
worker processes (MURMUR_SEND_SHARDS of them) and reads progress from the send ledger.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from typing import Any

from murmur.settings import get_settings


def register(sub: Any) -> None:
    campaigns = sub.add_parser("campaigns", help="dispatch campaigns")
    csub = campaigns.add_subparsers(dest="campaigns_command", metavar="ACTION")
    csub.required = True
    send = csub.add_parser("send", help="validate, schedule now and dispatch a campaign")
    send.add_argument("campaign_id", type=int)
    send.add_argument("--follow", action="store_true", help="show progress until it is done")
    send.add_argument("--shards", type=int, help="worker processes (MURMUR_SEND_SHARDS)")
    send.add_argument("--no-events", action="store_true", help="do not produce send events")
    send.set_defaults(func=_send)


def _prepare(conn: Any, campaign_id: int) -> str | None:
    """Schedule a draft that passes the checks; the reason it cannot be sent, or None."""
    import sqlalchemy as sa

    from murmur.db.tables import campaigns
    from murmur.domain.campaigns import send_problems, transition

    row = (
        conn.execute(sa.select(campaigns).where(campaigns.c.campaign_id == campaign_id))
        .mappings()
        .one_or_none()
    )
    if row is None:
        return f"campaign {campaign_id} not found"
    if row["status"] in ("scheduled", "sending"):
        return None
    if row["status"] != "draft":
        return f"campaign {campaign_id} is {row['status']}"
    problems = send_problems(conn, row["account_id"], dict(row))
    if problems:
        return "; ".join(f"{field}: {reason}" for field, reason in problems)
    transition(
        conn,
        row["account_id"],
        campaign_id,
        "scheduled",
        "cli",
        scheduled_at=sa.func.coalesce(campaigns.c.scheduled_at, sa.func.now()),
    )
    return None


def _line(counts: dict[str, int]) -> str:
    done = counts["sent"] + counts["failed"] + counts["skipped"]
    total = counts["total"] or 1
    width = 30
    bar = "#" * (width * done // total)
    return (
        f"[{bar:<{width}}] {done}/{counts['total']} sent {counts['sent']} "
        f"failed {counts['failed']} skipped {counts['skipped']}"
    )


def _send(args: argparse.Namespace) -> int:
    from murmur.db.engine import make_engine
    from murmur.domain.sending import counters

    settings = get_settings()
    engine = make_engine(settings.require("postgres_url"), pool_size=1, max_overflow=1)
    try:
        with engine.begin() as conn:
            problem = _prepare(conn, args.campaign_id)
        if problem:
            print(f"murmur: error: {problem}", file=sys.stderr)
            return 2
        shards = args.shards or settings.send_shards
        extra = ["--no-events"] if args.no_events else []
        workers = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "sender",
                    "send",
                    str(args.campaign_id),
                    "--shard",
                    str(k),
                    "--shards",
                    str(shards),
                    *extra,
                ],
                stdout=subprocess.DEVNULL,
            )
            for k in range(shards)
        ]
        while any(w.poll() is None for w in workers):
            if args.follow:
                with engine.connect() as conn:
                    print("\r" + _line(counters(conn, args.campaign_id)), end="", flush=True)
            time.sleep(0.5)
        with engine.connect() as conn:
            final = counters(conn, args.campaign_id)
    finally:
        engine.dispose()
    if args.follow:
        print("\r" + _line(final))
    print(json.dumps(final))
    codes = [w.returncode for w in workers]
    return 0 if all(code == 0 for code in codes) else 1
