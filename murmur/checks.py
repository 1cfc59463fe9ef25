"""The service round trip: one check per external service, each returning a `CheckResult`.

Postgres (write and read a row), Kafka (produce and consume a message), ClickHouse (insert and
query a row) and SMTP (send a mail and, on the local sink, read it back from its Maildir).
`murmur demo` prints them; the Dagster asset `service_roundtrip` records them as metadata. The
checks touch only their own scratch objects (`demo_roundtrip` tables, the `murmur-demo` topic, one
mail to a reserved domain), never accounts, contacts or campaigns.
"""

from __future__ import annotations

import mailbox
import smtplib
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from urllib.parse import urlsplit

from murmur.settings import Settings, SettingsError, redact_url

DEMO_TOPIC = "murmur-demo"


class CheckFailed(RuntimeError):
    """A service answered, but not with what the check wrote."""


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check. `misconfigured`: it failed because a setting is missing/bad."""

    name: str
    ok: bool
    seconds: float
    detail: str
    misconfigured: bool = False


def check_postgres(settings: Settings, token: str) -> str:
    import psycopg

    from murmur.db.engine import libpq_url

    url = libpq_url(settings.require("postgres_url"))
    with psycopg.connect(url, connect_timeout=5) as conn:
        conn.execute(
            "create table if not exists demo_roundtrip (token text primary key, at timestamptz)"
        )
        conn.execute("insert into demo_roundtrip values (%s, now())", (token,))
        row = conn.execute("select token from demo_roundtrip where token = %s", (token,)).fetchone()
        total = conn.execute("select count(*) from demo_roundtrip").fetchone()
    if row is None or row[0] != token:
        raise CheckFailed("the row written to Postgres was not read back")
    return f"wrote and read back 1 row ({total[0] if total else '?'} demo rows in total)"


def check_kafka(settings: Settings, token: str) -> str:
    from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

    from murmur.kafka import consumer_config, ensure_topics, producer_config

    bootstrap = settings.require("kafka_bootstrap_servers")
    ensure_topics(bootstrap, [DEMO_TOPIC], partitions=1)
    producer = Producer(producer_config(bootstrap))
    producer.produce(DEMO_TOPIC, key=token.encode(), value=f'{{"token": "{token}"}}'.encode())
    if producer.flush(15) != 0:
        raise CheckFailed(f"message to {DEMO_TOPIC} not acknowledged by {bootstrap} in 15s")
    consumer = Consumer(consumer_config(bootstrap, f"murmur-demo-{token}"))
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
    raise CheckFailed(f"message produced to {DEMO_TOPIC} was not consumed within 30s")


def check_clickhouse(settings: Settings, token: str) -> str:
    from murmur.clickhouse import ensure_database, get_client

    database = ensure_database(settings)
    client = get_client(settings)
    try:
        client.command(
            f"create table if not exists `{database}`.demo_roundtrip "
            "(token String, at DateTime64(3, 'UTC')) engine = MergeTree order by token"
        )
        client.insert(
            f"`{database}`.demo_roundtrip",
            [[token, datetime.now(UTC)]],
            column_names=["token", "at"],
        )
        found = client.query(
            f"select count() from `{database}`.demo_roundtrip where token = {{t:String}}",
            parameters={"t": token},
        ).result_rows[0][0]
    finally:
        client.close()
    if found != 1:
        raise CheckFailed(f"the row inserted into ClickHouse was read back {found} times")
    return "inserted and queried 1 row through clickhouse-connect"


def check_smtp(settings: Settings, token: str) -> str:
    url = settings.require("smtp_url")
    # Read the mail back only from the local stack's sink (a real relay delivers it elsewhere).
    maildir = settings.state_dir / "maildir" if settings.smtp_url is None else None
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
    raise CheckFailed(f"mail sent through {url} not found in {maildir}")


Check = Callable[[Settings, str], str]
# (name, the settings field it uses, the check)
CHECKS: tuple[tuple[str, str, Check], ...] = (
    ("postgres", "postgres_url", check_postgres),
    ("kafka", "kafka_bootstrap_servers", check_kafka),
    ("clickhouse", "clickhouse_url", check_clickhouse),
    ("smtp", "smtp_url", check_smtp),
)


def _origin(settings: Settings, field: str) -> str:
    """Which URL a check used and where it came from, for its failure line."""
    url = redact_url(str(getattr(settings.resolved(), field)))
    own = getattr(settings, field) is not None
    return f"{url} from MURMUR_{field.upper()}" if own else f"{url} from the local stack"


def run_check(settings: Settings, name: str, field: str, check: Check, token: str) -> CheckResult:
    """Run one check; a failure becomes a result naming the error and the URL tried."""
    started = time.perf_counter()
    ok, misconfigured = False, False
    try:
        detail, ok = check(settings, token), True
    except SettingsError as exc:
        detail, misconfigured = str(exc), True
    except Exception as exc:
        detail = f"{type(exc).__name__}: {exc} [tried {_origin(settings, field)}]"
    return CheckResult(name, ok, time.perf_counter() - started, detail, misconfigured)


def run_checks(
    settings: Settings,
    token: str | None = None,
    on_result: Callable[[CheckResult], None] | None = None,
) -> list[CheckResult]:
    """Run every check in order (a failing one does not stop the others)."""
    token = token or uuid.uuid4().hex[:12]
    results = []
    for name, field, check in CHECKS:
        result = run_check(settings, name, field, check, token)
        if on_result is not None:
            on_result(result)
        results.append(result)
    return results
