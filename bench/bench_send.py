"""Full dispatch vs a raw smtplib sender, both into Postfix's `smtp-sink`, in the same run.

`.venv/bin/python bench/bench_send.py [--emails N] [--procs P] [--reps R] [--rss-recipients M]`

Full dispatch: `python -m sender send ID --procs P --no-events` (ledger snapshot + claims with
SKIP LOCKED, render of an MJML template with 5 personalised fields, DKIM rsa-2048, SMTP on 4
connections per process), timed from the process start to its exit; the same with one process
for reference. Baseline: smtplib on 4 connections sending one pre-built 2 KB message. Sides run
alternately, `R` times each; medians are compared. With `--rss-recipients M`, a campaign of M
recipients is sent once more and the peak RSS of the sender's processes (parent and workers,
sampled together) is checked. Needs `smtp-sink` (Debian package `postfix`); uses
MURMUR_POSTGRES_URL when set, else a throwaway local Postgres. Targets (issue 12): ≥ 1,000
emails/s, ≥ 40% of raw, peak RSS ≤ 500 MB for 100k recipients.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
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
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import Target, median, report
from murmur.db.engine import make_engine
from murmur.db.migrate import upgrade
from murmur.db.tables import campaigns, contacts, segments
from murmur.domain.accounts import create_account
from murmur.domain.dkim import store_key
from murmur.domain.templates import create_template
from murmur.net import free_port, port_open, wait_until

TARGET_RATE = 1000.0
TARGET_RATIO = 0.40
TARGET_RSS_MB = 500.0
SECRET = "bench-secret-key-0123456789"
MJML = """<mjml><mj-head><mj-style>.x { color: #333 }</mj-style></mj-head><mj-body>
<mj-section><mj-column>
<mj-text css-class="x">Hello {{ first_name }} {{ last_name }},</mj-text>
<mj-text>Your plan {{ custom_fields.plan }} in {{ custom_fields.city }} renews soon.</mj-text>
<mj-text>Account {{ email }}.</mj-text>
<mj-button href="https://example.com/renew">Renew</mj-button>
</mj-column></mj-section></mj-body></mjml>"""


class CpuMeter:
    """CPU seconds (user + sys) used so far by smtp-sink and by the Postgres server.

    Postgres: the postmaster, its live children (backends, background workers) and the children
    it has reaped (a backend that ended), so the sender's connections are counted either way.
    """

    def __init__(self, sink_pid: int, url: str) -> None:
        self.sink = psutil.Process(sink_pid)
        with psycopg.connect(url.replace("postgresql+psycopg", "postgresql")) as conn:
            backend = conn.execute("select pg_backend_pid()").fetchone()
            assert backend is not None
            self.postmaster = psutil.Process(int(backend[0])).parent()  # while it lives

    @staticmethod
    def _own(proc: psutil.Process, reaped: bool = False) -> float:
        try:
            t = proc.cpu_times()
        except psutil.Error:
            return 0.0
        own = float(t.user + t.system)
        return own + (float(t.children_user + t.children_system) if reaped else 0.0)

    def sample(self) -> dict[str, float]:
        pg = self._own(self.postmaster, reaped=True) if self.postmaster else 0.0
        try:
            children = self.postmaster.children() if self.postmaster else []
        except psutil.Error:  # a backend ended while its siblings were listed
            children = []
        for child in children:
            pg += self._own(child)
        return {"smtp_sink": self._own(self.sink), "postgres": pg}


@contextmanager
def smtp_sink() -> Iterator[tuple[int, int]]:
    """(port, pid) of a running `smtp-sink`."""
    binary = shutil.which("smtp-sink") or "/usr/sbin/smtp-sink"
    if not Path(binary).exists():
        raise SystemExit("bench_send: smtp-sink not found; `apt-get install postfix`")
    port = free_port()
    proc = subprocess.Popen(
        [binary, "-u", "nobody", "-c", f"127.0.0.1:{port}", "1000"],
        stdout=subprocess.DEVNULL,  # -c prints a running counter
    )
    try:
        wait_until(lambda: port_open(port), timeout=10, what="smtp-sink")
        yield port, proc.pid
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


def make_campaign(engine: sa.Engine, n: int) -> int:
    """A scheduled campaign to `n` fresh contacts of a new account, DKIM key stored."""
    with engine.begin() as conn:
        tag = uuid.uuid4().hex[:8]
        account = create_account(
            conn,
            f"bench-{tag}",
            postal_address="1 Bench Road",
            default_from_name="Bench",
            default_from_email="news@bench.example",
        )
        for start in range(0, n, 10_000):
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
                    for i in range(start, min(n, start + 10_000))
                ],
            )
        seg = conn.execute(
            segments.insert()
            .values(account_id=account, name="all", kind="criteria", definition={"all": []})
            .returning(segments.c.segment_id)
        ).scalar_one()
        tpl = create_template(
            conn, account, {"name": "t", "subject": "Hi {{ first_name }}", "body_html": MJML}, "b"
        )["template_id"]
        campaign_id = conn.execute(
            campaigns.insert()
            .values(
                account_id=account,
                name="b",
                subject="Hi {{ first_name }}",
                template_id=tpl,
                segment_id=seg,
                status="scheduled",
                template_version=1,
            )
            .returning(campaigns.c.campaign_id)
        ).scalar_one()
        store_key(conn, account, "bench.example", "b1", "rsa", SECRET)
    return int(campaign_id)


def dispatch(
    url: str, port: int, campaign_id: int, procs: int, state: str, meter: CpuMeter
) -> dict[str, float]:
    """Run the sender's CLI on the campaign: wall seconds, its summary, the tree's peak RSS and
    the CPU per email of the sender (parent and workers), smtp-sink and Postgres."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MURMUR_")}
    env.update(
        PYTHONPATH=str(Path(__file__).resolve().parent.parent),
        MURMUR_POSTGRES_URL=url,
        MURMUR_SMTP_URL=f"smtp://127.0.0.1:{port}?starttls=no",
        MURMUR_STATE_DIR=state,
        MURMUR_SECRET_KEY=SECRET,
        MURMUR_TRACKING_SECRET="bench-tracking-secret",
        MURMUR_TRACKING_BASE_URL="https://t.bench.example",
        MURMUR_SEND_BATCH_SIZE="500",
    )
    argv = [sys.executable, "-m", "sender", "send", str(campaign_id), "--no-events"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    others = meter.sample()
    start = time.perf_counter()
    proc = subprocess.Popen(
        [*argv, "--procs", str(procs)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    peak = [0]
    done = threading.Event()

    def watch() -> None:  # the RSS of the sender and its workers, summed
        parent = psutil.Process(proc.pid)
        while not done.wait(0.1):
            try:
                tree = [parent, *parent.children(recursive=True)]
                peak[0] = max(peak[0], sum(p.memory_info().rss for p in tree))
            except psutil.Error:
                pass

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    out, err = proc.communicate()
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)  # the sender and its workers, waited for
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    others = {name: used - others[name] for name, used in meter.sample().items()}
    done.set()
    watcher.join()
    if proc.returncode != 0:
        raise SystemExit(f"bench_send: the sender failed ({proc.returncode}):\n{err.decode()}")
    summary = json.loads(out.decode().strip().splitlines()[-1])
    if summary["outcome"] != "sent":
        raise SystemExit(f"bench_send: the campaign did not finish: {summary}")
    return {
        "sent": summary["sent"],
        "wall": elapsed,
        "inner": summary["seconds"],
        "cpu_ms_per_email": cpu * 1000 / max(summary["sent"], 1),
        **{
            f"{name}_ms_per_email": used * 1000 / max(summary["sent"], 1)
            for name, used in others.items()
        },
        "rss_total_mb": peak[0] / 2**20,
        "rss_proc_mb": summary["peak_rss_mb"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--emails", type=int, default=10_000)
    parser.add_argument("--procs", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--rss-recipients", type=int, default=0)
    args = parser.parse_args()
    raws: list[float] = []
    multi: list[dict[str, float]] = []
    single: list[dict[str, float]] = []
    with smtp_sink() as (port, sink_pid), database() as url, tempfile.TemporaryDirectory() as state:
        meter = CpuMeter(sink_pid, url)
        engine = make_engine(url, pool_size=2, max_overflow=2)
        ids = [make_campaign(engine, args.emails) for _ in range(2 * args.reps)]
        raw_rate(port, 1000)  # warm-up
        for rep in range(args.reps):
            sides = ["raw", "multi", "single"]
            for side in sides if rep % 2 == 0 else reversed(sides):
                if side == "raw":
                    raws.append(raw_rate(port, args.emails))
                    print(f"  rep {rep + 1} raw: {raws[-1]:.0f}/s", flush=True)
                    continue
                procs = args.procs if side == "multi" else 1
                run = dispatch(url, port, ids.pop(), procs, state, meter)
                (multi if side == "multi" else single).append(run)
                rate = run["sent"] / run["wall"]
                print(f"  rep {rep + 1} {procs} proc(s): {rate:.0f}/s {run}", flush=True)
        rss_run = None
        if args.rss_recipients:
            big = make_campaign(engine, args.rss_recipients)
            rss_run = dispatch(url, port, big, args.procs, state, meter)
            print(f"  {args.rss_recipients} recipients: {rss_run}", flush=True)
        engine.dispose()
    targets = []
    if args.reps:
        raw = median(raws)
        full = median([r["sent"] / r["wall"] for r in multi])
        one = median([r["sent"] / r["wall"] for r in single])
        inner = median([r["sent"] / r["inner"] for r in multi])
        cpu = median([r["cpu_ms_per_email"] for r in multi])
        print(f"raw smtplib (4 connections, 2 KB):              {raw:8.0f} emails/s")
        print(f"full dispatch, {args.procs} processes (wall time):        {full:8.0f} emails/s")
        print(f"full dispatch, 1 process (wall time):           {one:8.0f} emails/s")
        print(f"full dispatch, {args.procs} processes (after start-up):   {inner:8.0f} emails/s")
        print(f"sender CPU per email (user + sys, all processes): {cpu:.2f} ms")
        for name in ("smtp_sink", "postgres"):
            used = median([r[f"{name}_ms_per_email"] for r in multi])
            print(f"{name} CPU per email (same runs):{used:20.2f} ms")
        targets += [
            Target("full dispatch emails/s", full, TARGET_RATE, at_most=False),
            Target("full / raw", full / raw, TARGET_RATIO, at_most=False),
        ]
    print(f"load average: {os.getloadavg()}")
    if rss_run is not None:
        rss = rss_run["rss_total_mb"]
        name = f"peak RSS, {args.rss_recipients} recipients, all processes"
        targets.append(Target(name, rss, TARGET_RSS_MB, unit=" MB"))
    return report("bench_send", targets)


if __name__ == "__main__":
    sys.exit(main())
