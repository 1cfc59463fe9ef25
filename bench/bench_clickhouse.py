"""Local ClickHouse server vs chdb in-process, measured in the same run.

1. Insert 1M event rows as Arrow batches through the server (clickhouse-connect
   ``insert_arrow``) and, as the baseline, the same batches into chdb in this process. Both
   sides get one warm-up repetition, then ``--reps`` (3) interleaved repetitions.
   Target: server throughput / in-process throughput >= 0.7 (medians). The headline uses
   ``compress=False`` so both sides move the same uncompressed Arrow IPC bytes; with the
   default ``compress=True`` clickhouse-connect also lz4-compresses the IPC buffers on the
   client, which costs ~0.1 s per 1M rows on this machine and is reported separately.
2. Median round trip of ``SELECT 1`` through clickhouse-connect. Target: <= 5 ms.

Exits 1 when a target is missed. Run: ``.venv/bin/python bench/bench_clickhouse.py [--rows N]
[--reps N]``.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import chdb
import clickhouse_connect
import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import REPO, Target, add_reps, interleave, median, report
from murmur.net import free_port, wait_until

DDL = """
CREATE TABLE IF NOT EXISTS bench.events (
    event_id UInt64,
    account_id UInt32,
    campaign_id UInt32,
    contact_id UInt64,
    kind LowCardinality(String),
    occurred_at DateTime64(3, 'UTC')
) ENGINE = MergeTree ORDER BY (account_id, occurred_at, event_id)
"""
KINDS = ["delivered", "open", "click", "bounce", "complaint", "unsubscribe"]


def make_batches(rows: int, batch_rows: int) -> list[pa.Table]:
    rng = np.random.default_rng(7)
    start = np.datetime64("2026-01-01T00:00:00", "ms")
    batches = []
    for offset in range(0, rows, batch_rows):
        n = min(batch_rows, rows - offset)
        kinds = pa.array(np.array(KINDS)[rng.integers(0, len(KINDS), n)])
        batches.append(
            pa.table(
                {
                    "event_id": pa.array(np.arange(offset, offset + n, dtype=np.uint64)),
                    "account_id": pa.array(rng.integers(1, 50, n, dtype=np.uint32)),
                    "campaign_id": pa.array(rng.integers(1, 5000, n, dtype=np.uint32)),
                    "contact_id": pa.array(rng.integers(1, 2_000_000, n, dtype=np.uint64)),
                    "kind": kinds,
                    "occurred_at": pa.array(
                        start + rng.integers(0, 90 * 86_400_000, n).astype("timedelta64[ms]"),
                        pa.timestamp("ms", tz="UTC"),
                    ),
                }
            )
        )
    return batches


def ipc_bytes(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue().to_pybytes())


def start_server(data_dir: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    cmd = [sys.executable, "-m", "murmur.chserver", "--data-dir", str(data_dir)]
    cmd += ["--port", str(port), "--log-file", str(data_dir.parent / "chserver.log")]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL)

    def ping() -> bool:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=1) as r:
            return bool(r.read() == b"Ok.\n")

    try:
        wait_until(ping, 60, "the local ClickHouse server to answer /ping")
    except TimeoutError:
        proc.kill()
        raise
    return proc, port


def bench_server(port: int, batches: list[pa.Table], reps: int, compress: bool) -> list[float]:
    client = clickhouse_connect.get_client(host="127.0.0.1", port=port, compress=compress)
    client.command("CREATE DATABASE IF NOT EXISTS bench")
    client.command(DDL)
    times = []
    for _ in range(reps):
        client.command("TRUNCATE TABLE bench.events")
        t = time.perf_counter()
        for b in batches:
            client.insert_arrow("bench.events", b)
        times.append(time.perf_counter() - t)
        assert client.command("SELECT count() FROM bench.events") == sum(len(b) for b in batches)
    client.close()
    return times


def bench_in_process(data_dir: Path, batches: list[pa.Table], reps: int) -> list[float]:
    conn = chdb.connect(str(data_dir))  # type: ignore[no-untyped-call]
    conn.query("CREATE DATABASE IF NOT EXISTS bench")
    conn.query(DDL)
    times = []
    for _ in range(reps):
        conn.query("TRUNCATE TABLE bench.events")
        t = time.perf_counter()
        for b in batches:
            with conn.send_insert("INSERT INTO bench.events", "Arrow") as ins:
                ins.append(ipc_bytes(b))
                ins.finish()
        times.append(time.perf_counter() - t)
        count = conn.query("SELECT count() FROM bench.events", "TSV").bytes()
        assert int(count) == sum(len(b) for b in batches)
    conn.close()
    return times


def bench_select1(port: int, n: int) -> list[float]:
    client = clickhouse_connect.get_client(host="127.0.0.1", port=port)
    for _ in range(20):
        client.query("SELECT 1")
    times = []
    for _ in range(n):
        t = time.perf_counter()
        client.query("SELECT 1")
        times.append(time.perf_counter() - t)
    client.close()
    return times


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--batch-rows", type=int, default=100_000)
    add_reps(p)
    p.add_argument("--select1", type=int, default=500)
    a = p.parse_args()
    batches = make_batches(a.rows, a.batch_rows)
    with tempfile.TemporaryDirectory(prefix="bench-ch-") as tmp:
        base = Path(tmp)
        (base / "server").mkdir()
        proc, port = start_server(base / "server" / "data")
        try:
            print(f"Arrow insert of {a.rows:,} rows in {len(batches)} batches", flush=True)
            runs = interleave(
                lambda: bench_in_process(base / "local", batches, 1)[0],
                lambda: bench_server(port, batches, 1, compress=False)[0],
                a.reps,
            )
            lz4 = interleave(
                lambda: bench_in_process(base / "local", batches, 1)[0],
                lambda: bench_server(port, batches, 1, compress=True)[0],
                a.reps,
            )
            rt = bench_select1(port, a.select1)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(60)
    server_s, local_s = median(runs.subject), median(runs.baseline)
    print(
        f"  server, compress=False (same Arrow IPC bytes as baseline): median {server_s:.3f} s"
        f" = {a.rows / server_s:,.0f} rows/s; runs {', '.join(f'{t:.3f}' for t in runs.subject)}"
    )
    print(
        f"  chdb in-process (send_insert Arrow): median {local_s:.3f} s"
        f" = {a.rows / local_s:,.0f} rows/s; runs {', '.join(f'{t:.3f}' for t in runs.baseline)}"
    )
    print(
        f"  server, compress=True (client lz4-compresses IPC buffers): median "
        f"{median(lz4.subject):.3f} s, throughput ratio {1 / lz4.ratio:.2f} (informational)"
    )
    rt_ms = median(rt) * 1000
    print(
        f"SELECT 1 round trip via clickhouse-connect: median {rt_ms:.2f} ms over {len(rt)} "
        f"(p90 {np.percentile(rt, 90) * 1000:.2f} ms)"
    )
    return report(
        f"bench_clickhouse, median of {a.reps} interleaved repetitions",
        [
            Target("server/in-process insert throughput ratio", 1 / runs.ratio, 0.7, False, "x"),
            Target("SELECT 1 round trip", rt_ms, 5.0, unit=" ms"),
        ],
    )


if __name__ == "__main__":
    sys.exit(main())
