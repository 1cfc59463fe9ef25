"""The whole ingestion path: HTTP → receiver → Kafka → consumer → ClickHouse `events`.

Starts a throwaway stack (Postgres, the local ClickHouse server, Tansu) in a temp dir, then the
receiver (`python -m ingestion serve --workers 2`, signature verification on, with keys and a
pinned SNS certificate generated here) and the consumer (`python -m ingestion consume --role
events --procs 2`: two processes of one group) as subprocesses on 127.0.0.1. Each figure is
timed from the first request sent to the moment `select count() from events` shows every event
of the repetition (median of `--reps`):

1. sustained events/s, SendGrid batches of 1,000 ECDSA-signed events (target >= 20,000);
2. requests/s, single-event SNS notifications signed with signature version 2 (target >= 2,000);
3. p99 from request sent to queryable, at half the load of 1 (marker events polled in
   ClickHouse every 50 ms; target <= 5 s);
4. the consumer's insert rate vs inserting the same events with clickhouse-connect alone
   (`bench_consumer.py`'s functions, interleaved, in the same run; target >= 0.5).
A warm-up request of each kind (and a warm-up repetition of 4) runs first, unmeasured. After
each measured phase a line gives the CPU seconds each process group spent (receiver and its
workers, consumer and its children, Tansu, the ClickHouse server, Postgres, this load
generator) per event or request: where the 2 cores' budget goes; at the end each consumer
process's phase seconds (thread CPU / elapsed, from its log). The load comes from a minimal
keep-alive HTTP/1.1 client on asyncio streams (httpx.AsyncClient topped out near 100
requests/s with 48 connections here, against a bare uvicorn app as well); requests are framed
before the clock starts, since this process shares the cores with what it measures.
`--batch-size`/`--batch-ms` are the consumer's, `--ratio-events` figure 4's sample.
About 3 minutes at the default size at load average 3.

Run: `PYTHONPATH=. .venv/bin/python bench/bench_ingestion.py [--events N] [--reps 3]`.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import datetime as dt
import gc
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import uvloop
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

from bench import bench_consumer as bc
from bench.common import REPO, Target, add_reps, interleave, median, report
from bench.ingestion_cpu import CpuMeter, describe
from bench.ingestion_diag import offset_counters, report_shortfall
from ingestion.providers.sns import string_to_sign
from murmur.clickhouse import get_client
from murmur.db.engine import make_engine
from murmur.db.migrate import upgrade
from murmur.kafka import ensure_topics
from murmur.net import free_port, port_open, wait_until
from murmur.settings import Settings, get_settings
from murmur.stack.manager import Stack

TOPIC = "arn:aws:sns:us-west-2:123456789012:murmur-bench"
CERT_NAME = "SimpleNotificationService-murmurbench.pem"
CERT_URL = f"https://sns.us-west-2.amazonaws.com/{CERT_NAME}"
BATCH = 1000
IDLE_S = 2.0  # reconnect after this long idle (uvicorn closes keep-alives after 5 s)
Request = tuple[bytes, dict[str, str]]
DATABASE = "bench_ingestion"


class Keys:
    """A SendGrid key pair and an SNS signing key with its pinned self-signed certificate."""

    def __init__(self, cert_dir: Path) -> None:
        self.sendgrid = ec.generate_private_key(ec.SECP256R1())
        der = self.sendgrid.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.sendgrid_public_b64 = base64.b64encode(der).decode()
        self.sns = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(self.sns.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30)).sign(self.sns, hashes.SHA256())
        )  # fmt: skip
        cert_dir.mkdir(parents=True, exist_ok=True)
        (cert_dir / CERT_NAME).write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        self.cert_dir = cert_dir


def sendgrid_request(keys: Keys, tag: str, records: list[int], markers: int = 0) -> Request:
    """(body, headers) of one signed batch of BATCH events; the first `markers` are markers."""
    now = int(time.time())
    kinds = ("delivered", "open", "click")
    items = []
    for i in range(BATCH):
        kind = kinds[i % 3]
        msg = f"mark-{tag}-{i}" if i < markers else f"sg-{tag}-{i}"
        item: dict[str, Any] = {
            "email": f"u{i}@example.com", "timestamp": now, "event": kind,
            "sg_event_id": f"{tag}-{i}", "sg_message_id": f"{msg}.filter0001.16648.0",
            "smtp-id": f"<{msg}@ismtpd-555>", "murmur_email_id": str(records[i % len(records)]),
            "ip": "203.0.113.7", "useragent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64)",
        }  # fmt: skip
        if kind == "click":
            item["url"] = "https://shop.example/sale"
        items.append(item)
    body = json.dumps(items).encode()
    ts = str(now)
    sig = keys.sendgrid.sign(ts.encode() + body, ec.ECDSA(hashes.SHA256()))
    return body, {
        "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(sig).decode(),
        "X-Twilio-Email-Event-Webhook-Timestamp": ts,
        "Content-Type": "application/json",
    }


def sns_request(keys: Keys, tag: str, record: int) -> Request:
    """(body, headers) of one SNS v2-signed notification carrying one SES open."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    message = {
        "eventType": "Open",
        "mail": {"timestamp": stamp, "source": "news@example.com", "messageId": f"ses-{tag}",
                 "destination": ["reader@example.com"],
                 "tags": {"murmur_email_id": [str(record)]}},
        "open": {"ipAddress": "192.0.2.1", "timestamp": stamp, "userAgent": "Mozilla/5.0"},
    }  # fmt: skip
    env = {
        "Type": "Notification", "MessageId": str(uuid.uuid4()), "TopicArn": TOPIC,
        "Subject": "Amazon SES Email Event Notification", "Message": json.dumps(message),
        "Timestamp": stamp, "SignatureVersion": "2", "SigningCertURL": CERT_URL,
        "UnsubscribeURL": "https://sns.us-west-2.amazonaws.com/?Action=Unsubscribe",
    }  # fmt: skip
    sig = keys.sns.sign(string_to_sign(env), padding.PKCS1v15(), hashes.SHA256())
    env["Signature"] = base64.b64encode(sig).decode()
    return json.dumps(env).encode(), {
        "x-amz-sns-message-type": "Notification", "x-amz-sns-topic-arn": TOPIC,
        "Content-Type": "text/plain; charset=UTF-8",
    }  # fmt: skip


@contextmanager
def process(
    args: list[str], env: dict[str, str], log: Path, port: int | None
) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("w") as out:
        proc = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=REPO)
        try:
            if port is not None:
                wait_until(lambda: port_open(port) or proc.poll() is not None, 60, args[3])
            if proc.poll() is not None:
                raise SystemExit(f"{args[3]} exited:\n{log.read_text()[-2000:]}")
            yield proc
        except BaseException:
            code = proc.poll()
            print(f"{args[3]} (exit code {code}), last lines of its log:", file=sys.stderr)
            print(log.read_text()[-3000:], file=sys.stderr, flush=True)
            raise
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """(status, body) of the next HTTP/1.1 response on the connection (sized or chunked)."""
    async with asyncio.timeout(60):  # no task per request, unlike wait_for
        head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])  # "HTTP/1.1 200 OK"
    low = head.lower()
    at = low.find(b"\r\ncontent-length:")
    if at >= 0:  # the usual answer: sized (parsed with byte searches, cheap per request)
        end = low.index(b"\r\n", at + 2)
        return status, await reader.readexactly(int(low[at + 17 : end]))
    if b"\r\ntransfer-encoding: chunked" not in low:
        return status, b""
    body = b""
    for _ in range(100_000):  # bounded: a chunked answer of ours is a few chunks
        size = int((await reader.readuntil(b"\r\n")).strip(), 16)
        body += await reader.readexactly(size + 2)
        if size == 0:
            break
    return status, body


class Path_:
    """The running path: where to post, and how to count what reached `events`."""

    def __init__(self, url: str, settings: Settings, concurrency: int) -> None:
        self.url, self.settings, self.concurrency = url, settings, concurrency
        self.client: Any = None
        # called with the expected count before a shortfall ends the run (diagnostics)
        self.on_short: Callable[[int], None] | None = None

    def count(self) -> int:
        if self.client is None:
            self.client = get_client(self.settings)
        return int(self.client.command("select count() from events"))

    def wait_count(self, expected: int, timeout: float = 180.0) -> float:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if self.count() >= expected:
                    return time.perf_counter()
            except Exception:  # the consumer creates the database on its first batch
                self.client = None
            time.sleep(0.05)  # each count is a query the ClickHouse server pays for
        if self.on_short is not None:
            self.on_short(expected)
        raise SystemExit(f"events holds {self.count()} rows, expected {expected}")

    def frame(self, path: str, requests: list[Request]) -> list[bytes]:
        """The requests' bytes on the wire, framed before a clock starts (this process shares
        the cores with what it measures)."""
        host = self.url.removeprefix("http://").split(":")[0]
        return [
            f"POST {path} HTTP/1.1\r\nHost: {host}\r\n".encode()
            + "".join(f"{k}: {v}\r\n" for k, v in headers.items()).encode()
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
            for body, headers in requests
        ]

    async def post(self, path: str, wires: list[bytes], schedule: float = 0.0) -> None:
        """Send every framed request over `concurrency` keep-alive connections; raise on a
        non-2xx.

        A minimal HTTP/1.1 client on asyncio streams: httpx.AsyncClient tops out near 100
        requests/s with 48 connections on this machine (against a bare uvicorn app too).
        """
        queue: asyncio.Queue[tuple[int, bytes] | None] = asyncio.Queue()
        host, port = self.url.removeprefix("http://").split(":")
        start = time.perf_counter()

        async def worker() -> None:
            reader, writer = await asyncio.open_connection(host, int(port))
            used = time.monotonic()
            try:
                while (item := await queue.get()) is not None:
                    if time.monotonic() - used > IDLE_S:  # uvicorn drops idle keep-alives
                        writer.close()
                        reader, writer = await asyncio.open_connection(host, int(port))
                    writer.write(item[1])
                    status, answer = await read_response(reader)
                    used = time.monotonic()
                    if status // 100 != 2:
                        raise SystemExit(f"{path} answered {status}: {answer[:500]!r}")
            finally:
                writer.close()

        workers = [asyncio.create_task(worker()) for _ in range(self.concurrency)]
        for i, wire in enumerate(wires):
            if schedule:
                await asyncio.sleep(max(0.0, start + i * schedule - time.perf_counter()))
                sent.append(time.perf_counter())
            await queue.put((i, wire))
        for _ in workers:
            await queue.put(None)
        await asyncio.gather(*workers)

    def run(self, path: str, requests: list[Request], events: int) -> tuple[float, float]:
        """(seconds until all answered, seconds until all counted in `events`)."""
        before = self.count()
        wires = self.frame(path, requests)
        started = time.perf_counter()
        uvloop.run(self.post(path, wires))
        answered = time.perf_counter()
        return answered - started, self.wait_count(before + events) - started


sent: list[float] = []
SENDGRID = "/api/v1/webhooks/esp-events/sendgrid"
SES = "/api/v1/webhooks/esp-events/ses"


def latency(path: Path_, keys: Keys, records: list[int], rate: float, markers: int) -> list[float]:
    """Seconds from request sent to queryable, per marker, with batches sent at `rate` ev/s."""
    interval = BATCH / rate
    batches = max(20, math.ceil(15 / interval))
    per = math.ceil(markers / batches)
    run = uuid.uuid4().hex[:8]
    requests = [sendgrid_request(keys, f"{run}-{b}", records, per) for b in range(batches)]
    seen: dict[str, float] = {}
    stop = threading.Event()

    def poll() -> None:
        client = get_client(path.settings)
        while not stop.is_set() and len(seen) < batches * per:
            rows = client.query(
                "select provider_message_id from events where startsWith(provider_message_id, "
                f"'mark-{run}-')"
            ).result_rows
            now = time.perf_counter()
            for (mid,) in rows:
                seen.setdefault(mid, now)
            time.sleep(0.05)
        client.close()

    sent.clear()
    poller = threading.Thread(target=poll)
    poller.start()
    try:
        uvloop.run(path.post(SENDGRID, path.frame(SENDGRID, requests), schedule=interval))
        poller.join(timeout=90)
    finally:
        stop.set()
        poller.join()
    out = []
    for b in range(batches):
        for i in range(per):
            at = seen.get(f"mark-{run}-{b}-{i}")
            out.append(math.inf if at is None else at - sent[b])
    return out


def consumer_ratio(urls: dict[str, str], events: int, reps: int) -> float:
    """bench_consumer's comparison, warmed up once, interleaved; consumer rate / direct rate."""
    engine = make_engine(urls["MURMUR_POSTGRES_URL"], pool_size=2, max_overflow=2)
    records = bc.make_ledger(engine)
    base = get_settings(
        postgres_url=urls["MURMUR_POSTGRES_URL"], clickhouse_url=urls["MURMUR_CLICKHOUSE_URL"],
        kafka_bootstrap_servers=urls["MURMUR_KAFKA_BOOTSTRAP_SERVERS"],
        consumer_session_timeout_ms=2000, consumer_heartbeat_interval_ms=300,
    )  # fmt: skip
    batch = 5000
    shared = bc.make_events(events, records)

    def direct() -> float:
        run = uuid.uuid4().hex[:8]
        return bc.direct(
            base.model_copy(update={"clickhouse_database": f"bd_{run}"}), shared, batch
        )

    def consumer() -> float:
        run = uuid.uuid4().hex[:8]
        topic = f"bench-{run}"
        ensure_topics(base.require("kafka_bootstrap_servers"), [topic])
        bc.produce(base.require("kafka_bootstrap_servers"), topic, shared)
        settings = base.model_copy(update={"clickhouse_database": f"bc_{run}"})
        return bc.consumer(settings, engine, topic, len(shared), batch)

    runs = interleave(direct, consumer, reps)
    engine.dispose()
    gc.collect()  # the consumers' DLQ producers sit in reference cycles: gone before the broker
    return median(runs.baseline) / median(runs.subject)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # long enough to measure a sustained rate: the last batch's way into ClickHouse (~0.3-0.5 s
    # after the last answer) weighed a fifth of a 2-second repetition
    parser.add_argument("--events", type=int, default=100_000, help="SendGrid events per rep")
    parser.add_argument("--sns-requests", type=int, default=6000, help="SNS posts per rep")
    parser.add_argument("--ratio-events", type=int, default=20_000, help="events for figure 4")
    parser.add_argument("--markers", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2, help="receiver worker processes")
    parser.add_argument("--consumers", type=int, default=2, help="consumer processes (--procs)")
    parser.add_argument("--batch-size", type=int, default=5000, help="consumer --batch-size")
    parser.add_argument("--batch-ms", type=int, default=1000, help="consumer --batch-time-ms")
    parser.add_argument("--concurrency", type=int, default=48, help="SNS requests in flight")
    parser.add_argument(
        "--keep-logs", type=Path, help="copy the receiver's, consumer's and stack's logs here"
    )
    add_reps(parser)
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-ingestion-") as tmp:
        state = Path(tmp)
        stack = Stack(state / "stack", ["postgres", "clickhouse", "kafka"])
        try:
            urls, pids = {}, {}
            for status in stack.up():
                urls.update(status.urls)
                pids[status.name] = status.pid
            env_urls = {
                "MURMUR_POSTGRES_URL": urls["postgres_url"],
                "MURMUR_CLICKHOUSE_URL": urls["clickhouse_url"],
                "MURMUR_KAFKA_BOOTSTRAP_SERVERS": urls["kafka_bootstrap_servers"],
            }
            upgrade(env_urls["MURMUR_POSTGRES_URL"])
            return measure(args, state, env_urls, pids)
        finally:
            stack.down()
            if args.keep_logs is not None:
                for log in state.rglob("*.log"):
                    dest = args.keep_logs / log.relative_to(state)
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy(log, dest)
                print(f"logs kept in {args.keep_logs}", flush=True)


def measure(
    args: argparse.Namespace, state: Path, urls: dict[str, str], pids: dict[str, int | None]
) -> int:
    keys = Keys(state / "certs")
    engine = make_engine(urls["MURMUR_POSTGRES_URL"], pool_size=1, max_overflow=1)
    records = bc.make_ledger(engine)
    engine.dispose()
    base = {k: v for k, v in os.environ.items() if not k.startswith("MURMUR_")}
    env = {
        **base, **urls, "PYTHONPATH": str(REPO), "MURMUR_STATE_DIR": str(state),
        "MURMUR_CLICKHOUSE_DATABASE": DATABASE, "MURMUR_SNS_TOPIC_ARNS": TOPIC,
        "MURMUR_SNS_CERT_DIR": str(keys.cert_dir),
        "MURMUR_SENDGRID_WEBHOOK_PUBLIC_KEY": keys.sendgrid_public_b64,
        "MURMUR_CONSUMER_SESSION_TIMEOUT_MS": "2000",
        "MURMUR_CONSUMER_HEARTBEAT_INTERVAL_MS": "300",
    }  # fmt: skip
    port = free_port()
    serve = [sys.executable, "-m", "ingestion", "serve", "--host", "127.0.0.1", "--port", str(port)]
    consume = [sys.executable, "-m", "ingestion", "consume", "--role", "events"]
    consume += ["--procs", str(args.consumers), "--batch-size", str(args.batch_size)]
    consume += ["--batch-time-ms", str(args.batch_ms)]
    settings = get_settings(
        clickhouse_url=urls["MURMUR_CLICKHOUSE_URL"], clickhouse_database=DATABASE
    )
    path = Path_(f"http://127.0.0.1:{port}", settings, args.concurrency)
    bootstrap, consume_log = urls["MURMUR_KAFKA_BOOTSTRAP_SERVERS"], state / "consume.log"
    path.on_short = lambda expected: report_shortfall(bootstrap, settings, expected, consume_log)
    with (
        process([*serve, "--workers", str(args.workers)], env, state / "serve.log", port) as rcv,
        process(consume, env, state / "consume.log", None) as cns,
    ):
        meter = CpuMeter({**pids, "receiver": rcv.pid, "consumer": cns.pid})
        # warm up: the receiver's producers, the consumer's group join, the tables
        warm = [sendgrid_request(keys, f"warm-{i}", records) for i in range(4)]
        warm += [sns_request(keys, f"warm-{i}", records[i]) for i in range(50)]
        uvloop.run(path.post(SENDGRID, path.frame(SENDGRID, warm[:4])))
        uvloop.run(path.post(SES, path.frame(SES, warm[4:])))
        path.wait_count(4 * BATCH + 50)
        sg_rates, sns_rates = [], []
        for rep in range(args.reps):
            tag = uuid.uuid4().hex[:8]
            batches = max(1, args.events // BATCH)
            sg = [sendgrid_request(keys, f"{tag}-{b}", records) for b in range(batches)]
            sns = [sns_request(keys, f"{tag}-{i}", records[i % len(records)])
                   for i in range(args.sns_requests)]  # fmt: skip
            path.concurrency = 4
            meter.mark()
            http_s, total_s = path.run(SENDGRID, sg, batches * BATCH)
            sg_rates.append(batches * BATCH / total_s)
            print(f"  rep {rep + 1}/{args.reps} sendgrid: {sg_rates[-1]:,.0f} ev/s counted "
                  f"({batches * BATCH / http_s:,.0f} ev/s answered)", flush=True)  # fmt: skip
            print("    " + describe(meter.mark(), total_s, batches * BATCH, "event"), flush=True)
            path.concurrency = args.concurrency
            http_s, total_s = path.run(SES, sns, len(sns))
            sns_rates.append(len(sns) / total_s)
            print(f"  rep {rep + 1}/{args.reps} sns: {sns_rates[-1]:,.0f} req/s counted "
                  f"({len(sns) / http_s:,.0f} req/s answered)", flush=True)  # fmt: skip
            print("    " + describe(meter.mark(), total_s, len(sns), "request"), flush=True)
        half = median(sg_rates) / 2
        path.concurrency = 8
        lags = sorted(latency(path, keys, records, half, args.markers))
        p50, p99 = lags[len(lags) // 2], lags[min(len(lags) - 1, math.ceil(0.99 * len(lags)) - 1)]
        print(f"  latency at {half:,.0f} ev/s: {len(lags)} markers, p50 {p50:.2f} s, "
              f"p99 {p99:.2f} s, max {lags[-1]:.2f} s", flush=True)  # fmt: skip
    # each consumer process logs its phase seconds (thread CPU / elapsed) when it stops
    phases = [ln for ln in (state / "consume.log").read_text().splitlines() if "phase sec" in ln]
    for line in phases[-args.consumers :]:
        print("  consumer " + line.split(": ", 1)[-1], flush=True)
    # holes in a partition's offsets that the consumer re-read (late_batches) or gave up on
    for line in offset_counters(consume_log, args.consumers):
        print("  consumer " + line, flush=True)
    print("consumer vs direct clickhouse-connect insert:", flush=True)
    ratio = consumer_ratio(urls, args.ratio_events, args.reps)
    print(f"load average at end: {os.getloadavg()}", flush=True)
    return report(
        "ingestion, HTTP → Kafka → consumer → ClickHouse",
        [
            Target("SendGrid batches, events/s (median)", median(sg_rates), 20_000, at_most=False),
            Target("SNS single posts, requests/s (median)", median(sns_rates), 2000, at_most=False),
            Target("p99 sent → queryable at half load", p99, 5.0, unit=" s"),
            Target("consumer / direct insert rate", ratio, 0.5, at_most=False),
        ],
    )


if __name__ == "__main__":
    sys.exit(main())
