"""`murmur demo`: the main job on the configured services, with a printed report.

Until the pipelines carry a whole campaign, the job is a round trip through every service (write
and read Postgres, produce and consume on the broker, insert and query ClickHouse, send a mail
through SMTP and read it back from the local sink's Maildir), then a marketer's walkthrough of the
REST API: import contacts from CSV, create a template, a segment and a campaign, schedule it.
"""

from __future__ import annotations

import argparse
import mailbox
import smtplib
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from murmur.demo_domain import walkthrough
from murmur.settings import Settings, SettingsError, get_settings, redact_url

DEMO_TOPIC = "murmur-demo"


def register(sub: Any) -> None:
    demo = sub.add_parser("demo", help="run the main job on the configured services")
    demo.add_argument(
        "--walkthrough",
        action="store_true",
        help="run the API walkthrough even when MURMUR_POSTGRES_URL is set (creates demo data)",
    )
    demo.set_defaults(func=_run)


def roundtrip_postgres(url: str, token: str) -> str:
    import psycopg

    from murmur.db.engine import libpq_url

    with psycopg.connect(libpq_url(url), connect_timeout=5) as conn:
        conn.execute(
            "create table if not exists demo_roundtrip (token text primary key, at timestamptz)"
        )
        conn.execute("insert into demo_roundtrip values (%s, now())", (token,))
        row = conn.execute("select token from demo_roundtrip where token = %s", (token,)).fetchone()
        total = conn.execute("select count(*) from demo_roundtrip").fetchone()
    assert row is not None and row[0] == token, "row written to Postgres was not read back"
    return f"wrote and read back 1 row ({total[0] if total else '?'} demo rows in total)"


def roundtrip_kafka(bootstrap: str, token: str) -> str:
    from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

    from murmur.kafka import ensure_topics

    ensure_topics(bootstrap, [DEMO_TOPIC], partitions=1)
    producer = Producer(
        {"bootstrap.servers": bootstrap, "enable.idempotence": True, "log_level": 4}
    )
    producer.produce(DEMO_TOPIC, key=token.encode(), value=f'{{"token": "{token}"}}'.encode())
    if producer.flush(15) != 0:
        raise RuntimeError(f"message to {DEMO_TOPIC} not acknowledged by {bootstrap} in 15s")
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"murmur-demo-{token}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "log_level": 4,
        }
    )
    # assign() reads the partition directly: no group rebalance to wait for.
    consumer.assign([TopicPartition(DEMO_TOPIC, 0, OFFSET_BEGINNING)])
    deadline = time.monotonic() + 30
    try:
        while time.monotonic() < deadline:
            msg = consumer.poll(1.0)
            if msg is None or msg.error():
                continue
            if msg.key() == token.encode():
                return f"produced and consumed 1 message on {DEMO_TOPIC!r}"
    finally:
        consumer.close()
    raise RuntimeError(f"message produced to {DEMO_TOPIC} was not consumed within 30s")


def roundtrip_clickhouse(url: str, database: str, token: str) -> str:
    import clickhouse_connect

    parts = urlsplit(url)
    client = clickhouse_connect.get_client(
        host=parts.hostname,
        port=parts.port or 8123,
        username=parts.username or "default",
        password=parts.password or "",
        secure=parts.scheme == "https",
    )
    client.command(f"create database if not exists {database}")
    client.command(
        f"create table if not exists {database}.demo_roundtrip "
        "(token String, at DateTime64(3, 'UTC')) engine = MergeTree order by token"
    )
    client.insert(
        f"{database}.demo_roundtrip",
        [[token, datetime.now(UTC)]],
        column_names=["token", "at"],
    )
    found = client.query(
        f"select count() from {database}.demo_roundtrip where token = {{t:String}}",
        parameters={"t": token},
    ).result_rows[0][0]
    assert found == 1, f"row inserted into ClickHouse was read back {found} times"
    return "inserted and queried 1 row through clickhouse-connect"


def roundtrip_smtp(url: str, maildir: Path | None, token: str) -> str:
    parts = urlsplit(url)
    msg = EmailMessage()
    msg["From"] = "demo@murmuration.local"
    msg["To"] = "reader@example.com"
    msg["Subject"] = f"Murmuration demo {token}"
    msg.set_content("Hello from the Murmuration demo.")
    smtp_cls = smtplib.SMTP_SSL if parts.scheme == "smtps" else smtplib.SMTP
    with smtp_cls(parts.hostname or "127.0.0.1", parts.port or 25, timeout=10) as smtp:
        if parts.username:
            smtp.login(parts.username, parts.password or "")
        smtp.send_message(msg)
    if maildir is None:
        return "sent 1 mail (not read back: not the local sink)"
    for message in mailbox.Maildir(str(maildir), create=False):
        if token in str(message["Subject"]):
            return f"sent 1 mail and read it back from {maildir}"
    raise RuntimeError(f"mail sent through {url} not found in {maildir}")


def _origin(settings: Settings, field: str) -> str:
    """Which URL a step used and where it came from, for its failure line."""
    url = redact_url(str(getattr(settings.resolved(), field)))
    own = getattr(settings, field) is not None
    return f"{url} from MURMUR_{field.upper()}" if own else f"{url} from the local stack"


def run(
    settings: Settings, say: Callable[[str], None] = print, walkthrough_anywhere: bool = False
) -> bool:
    """Run the round trip, then the walkthrough; print one line a step; True when all passed.

    The walkthrough creates a demo account, contacts and a scheduled campaign, so it runs only on
    the local stack's Postgres unless `walkthrough_anywhere` is set.
    """
    resolved = settings.resolved()
    token = uuid.uuid4().hex[:12]
    local_sink = resolved.smtp_url is not None and settings.smtp_url is None
    steps: list[tuple[str, str, Callable[[], str]]] = [
        (
            "postgres",
            "postgres_url",
            lambda: roundtrip_postgres(settings.require("postgres_url"), token),
        ),
        (
            "kafka",
            "kafka_bootstrap_servers",
            lambda: roundtrip_kafka(settings.require("kafka_bootstrap_servers"), token),
        ),
        (
            "clickhouse",
            "clickhouse_url",
            lambda: roundtrip_clickhouse(
                settings.require("clickhouse_url"), settings.clickhouse_database, token
            ),
        ),
        (
            "smtp",
            "smtp_url",
            lambda: roundtrip_smtp(
                settings.require("smtp_url"),
                settings.state_dir / "maildir" if local_sink else None,
                token,
            ),
        ),
    ]
    say(f"Murmuration demo (run {token})")
    ok = True
    for name, field, step in steps:
        started = time.perf_counter()
        try:
            detail = step()
            status = "ok"
        except SettingsError as exc:
            detail, status, ok = str(exc), "FAILED", False
        except Exception as exc:
            detail, status, ok = f"{type(exc).__name__}: {exc}", "FAILED", False
            detail += f" [tried {_origin(settings, field)}]"
        say(f"  {name:<11} {status:<7} {time.perf_counter() - started:6.2f}s  {detail}")
    say("round trip complete: every service answered" if ok else "round trip FAILED")
    if not ok:
        return False
    if settings.postgres_url and not walkthrough_anywhere:
        say(
            "Marketer walkthrough skipped: MURMUR_POSTGRES_URL points at a real database and the "
            "walkthrough would create a demo account there (`murmur demo --walkthrough` forces it)."
        )
        return True
    say("Marketer walkthrough through the REST API (/api/v1)")
    started = time.perf_counter()
    try:
        walkthrough(settings, say)
    except Exception as exc:
        say(f"  walkthrough FAILED: {type(exc).__name__}: {exc}")
        return False
    say(f"walkthrough complete in {time.perf_counter() - started:.1f}s")
    say(
        "Next: `.venv/bin/murmur api serve` then http://127.0.0.1:8000/api/v1/docs "
        "(`murmur account create NAME` prints an admin key); sent mail is in "
        f"{settings.state_dir}/maildir/new; `murmur stack down` stops the services."
    )
    return True


def _run(args: argparse.Namespace) -> int:
    return 0 if run(get_settings(), walkthrough_anywhere=args.walkthrough) else 1
