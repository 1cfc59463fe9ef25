"""Full dispatch vs a raw smtplib sender, both into Postfix's `smtp-sink`, in the same run.

`.venv/bin/python bench/bench_send.py [--emails N]`

Full dispatch: ledger snapshot + claim, render of an MJML template with 5 personalised fields,
DKIM rsa-2048, SMTP (4 connections). Baseline: smtplib on 4 connections sending one pre-built
2 KB message N times. Needs `smtp-sink` (Debian package `postfix`); uses MURMUR_POSTGRES_URL when
set, else a throwaway local Postgres. Targets (issue 12): ≥ 1,000 emails/s and ≥ 40% of raw.
"""

from __future__ import annotations

import argparse
import os
import shutil
import smtplib
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from murmur.db.engine import make_engine
from murmur.db.migrate import upgrade
from murmur.db.tables import campaigns, contacts, segments, templates
from murmur.domain.accounts import create_account
from murmur.domain.dkim import store_key
from murmur.net import free_port, wait_until
from sender.dkim_sign import DkimSigner
from sender.events import DiscardEventSink
from sender.manager import Config, Manager
from sender.messengers.smtp import SmtpConfig, SmtpMessenger
from sender.render.links import TrackingLinkMinter
from sender.render.message import CampaignRenderer
from sender.store import PgStore

TARGET_RATE = 1000.0
TARGET_RATIO = 0.40
SECRET = "bench-secret-key-0123456789"
MJML = """<mjml><mj-head><mj-style>.x { color: #333 }</mj-style></mj-head><mj-body>
<mj-section><mj-column>
<mj-text css-class="x">Hello {{ first_name }} {{ last_name }},</mj-text>
<mj-text>Your plan {{ custom_fields.plan }} in {{ custom_fields.city }} renews soon.</mj-text>
<mj-text>Account {{ email }}.</mj-text>
<mj-button href="https://example.com/renew">Renew</mj-button>
</mj-column></mj-section></mj-body></mjml>"""


@contextmanager
def smtp_sink() -> Iterator[int]:
    binary = shutil.which("smtp-sink") or "/usr/sbin/smtp-sink"
    if not Path(binary).exists():
        raise SystemExit("bench_send: smtp-sink not found; `apt-get install postfix`")
    port = free_port()
    proc = subprocess.Popen(
        [binary, "-u", "nobody", "-c", f"127.0.0.1:{port}", "1000"],
        stdout=subprocess.DEVNULL,  # -c prints a running counter
    )
    try:
        from murmur.net import port_open

        wait_until(lambda: port_open(port), timeout=10, what="smtp-sink")
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@contextmanager
def database() -> Iterator[str]:
    preset = os.environ.get("MURMUR_POSTGRES_URL")
    with tempfile.TemporaryDirectory(prefix="bench-send-") as state:
        if preset:
            server = preset
            stack = None
        else:
            from murmur.stack.manager import Stack

            stack = Stack(Path(state), ["postgres"])
            stack.up()
            server = stack.service("postgres").urls()["postgres_url"]
        base = server.rsplit("/", 1)[0].replace("postgresql+psycopg", "postgresql")
        name = f"bench_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
            conn.execute(f'create database "{name}"')
        try:
            upgrade(f"{base}/{name}")
            yield f"{base}/{name}"
        finally:
            with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
                conn.execute(f'drop database if exists "{name}" with (force)')
            if stack is not None:
                stack.down()


def raw_rate(port: int, n: int, connections: int = 4) -> float:
    body = "x" * 2000
    message = (
        f"From: a@bench.example\r\nTo: b@bench.example\r\nSubject: raw\r\n\r\n{body}\r\n"
    ).encode()
    per = n // connections

    def run() -> None:
        with smtplib.SMTP("127.0.0.1", port) as conn:
            for _ in range(per):
                conn.sendmail("a@bench.example", ["b@bench.example"], message)

    threads = [threading.Thread(target=run) for _ in range(connections)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return per * connections / (time.perf_counter() - start)


def full_rate(url: str, port: int, n: int) -> tuple[float, float]:
    engine = make_engine(url, pool_size=4, max_overflow=4)
    with engine.begin() as conn:
        account = create_account(
            conn,
            "bench",
            postal_address="1 Bench Road",
            default_from_name="Bench",
            default_from_email="news@bench.example",
        )
        conn.execute(
            contacts.insert(),
            [
                {
                    "account_id": account,
                    "email": f"user{i}@r.bench.example",
                    "first_name": f"F{i}",
                    "last_name": f"L{i}",
                    "custom_fields": {"plan": "pro", "city": "Lyon"},
                }
                for i in range(n)
            ],
        )
        seg = conn.execute(
            segments.insert()
            .values(account_id=account, name="all", kind="criteria", definition={"all": []})
            .returning(segments.c.segment_id)
        ).scalar_one()
        tpl = conn.execute(
            templates.insert()
            .values(account_id=account, name="t", subject="Hi {{ first_name }}", body_html=MJML)
            .returning(templates.c.template_id)
        ).scalar_one()
        campaign_id = conn.execute(
            campaigns.insert()
            .values(
                account_id=account,
                name="b",
                subject="Hi {{ first_name }}",
                template_id=tpl,
                segment_id=seg,
                status="scheduled",
            )
            .returning(campaigns.c.campaign_id)
        ).scalar_one()
        key = store_key(conn, account, "bench.example", "b1", "rsa", SECRET)
    signer = DkimSigner(key.domain, key.selector, key.private_key)
    links = TrackingLinkMinter("https://t.bench.example", b"k")
    manager = Manager(
        PgStore(engine),
        SmtpMessenger(SmtpConfig.from_url(f"smtp://127.0.0.1:{port}")),
        lambda c: CampaignRenderer(c, links, signer),
        DiscardEventSink(),
        Config(batch_size=500, concurrency=4),
    )
    proc = psutil.Process()
    peak = [proc.memory_info().rss]
    done = threading.Event()

    def watch() -> None:
        while not done.wait(0.05):
            peak[0] = max(peak[0], proc.memory_info().rss)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    start = time.perf_counter()
    pipe = manager.run(campaign_id)
    elapsed = time.perf_counter() - start
    done.set()
    engine.dispose()
    assert pipe.sent == n, pipe
    return n / elapsed, peak[0] / 2**20


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--emails", type=int, default=2000)
    args = parser.parse_args()
    with smtp_sink() as port, database() as url:
        raw = raw_rate(port, args.emails * 2)
        full, rss = full_rate(url, port, args.emails)
    ratio = full / raw
    print(f"raw smtplib (4 connections, 2 KB):   {raw:8.0f} emails/s")
    print(
        f"full dispatch (MJML + DKIM + ledger): {full:8.0f} emails/s  (target ≥ {TARGET_RATE:.0f})"
    )
    print(f"ratio full/raw: {ratio:.2f} (target ≥ {TARGET_RATIO:.2f}); peak RSS {rss:.0f} MB")
    return 0 if full >= TARGET_RATE and ratio >= TARGET_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
