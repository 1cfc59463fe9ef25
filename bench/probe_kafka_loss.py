"""Probe: where does an acknowledged Kafka message get lost on the local Tansu broker?

Starts the stack's Tansu (memory storage) in a temp dir and a fresh 4-partition topic, then
runs, as subprocesses of this script:

- 2 producer processes with the receiver's producer config (idempotent, acks=all, linger 10 ms,
  many messages in flight), each sending `--messages` unique numbered messages in a mix of
  single sends and bursts, recording every delivery report (partition, offset);
- 2 consumer processes in one group with the consumer's exact config (`ConsumerConfig`), which
  read the topic live, commit synchronously after each "batch" as ours does, and record every
  (partition, offset, value) they see, each offset jump (a gap: the next offset is not the one
  after the last) or rewind (an offset going back), and librdkafka's log lines about offsets;
  mid-way one member leaves the group and a third one joins.

Then a fresh consumer reads each partition from offset 0, and the script compares what the
producers had acked, what the broker holds (offsets, gaps, high watermark) and what the group
consumed. Exits 1 when an acked message is missing from the broker or from the group's reads.

Run: `PYTHONPATH=. .venv/bin/python bench/probe_kafka_loss.py [--messages 20000] [--rounds 1]`.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import os
import random
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition

from ingestion.consumer.config import ConsumerConfig
from ingestion.consumer.strategies.offsets import OffsetCounters, OffsetTracker
from murmur.kafka import consumer_config, ensure_topics, producer_config
from murmur.stack.manager import Stack

PARTITIONS = 4


def _producer_conf(bootstrap: str) -> dict[str, Any]:
    """The receiver's config (ingestion/receiver/producer.py EventProducer, ack_timeout 6 s)."""
    return producer_config(
        bootstrap,
        **{
            "message.timeout.ms": 5500,
            "queue.buffering.max.messages": 500_000,
            "queue.buffering.max.kbytes": 512 * 1024,
            "linger.ms": 10,
        },
    )


def produce(args: argparse.Namespace) -> None:
    producer = Producer(_producer_conf(args.bootstrap))
    acked: list[tuple[int, int, str]] = []
    failed: list[tuple[str, str]] = []

    def on_delivery(err: KafkaError | None, msg: Any) -> None:
        value = msg.value().decode()
        if err is None:
            acked.append((msg.partition(), msg.offset(), value))
        else:
            failed.append((value, err.str()))

    rng = random.Random(args.id)
    i = 0
    started = time.monotonic()
    while i < args.messages:
        # a mix like the bench's: single-event posts and 1,000-event batches
        burst = 1000 if rng.random() < args.burst_share else rng.randint(1, args.max_burst)
        for _ in range(min(burst, args.messages - i)):
            key = str(rng.randint(1, 5000)).encode()
            value = json.dumps({"p": args.id, "i": i, "pad": "x" * 300}).encode()
            producer.produce(args.topic, value, key, on_delivery=on_delivery)
            i += 1
        producer.poll(0)
        # pace to about --rate messages/s
        ahead = i / args.rate - (time.monotonic() - started)
        if ahead > 0:
            time.sleep(ahead)
    producer.flush(30)
    out = {"acked": acked, "failed": failed}
    Path(args.out).write_text(json.dumps(out))


def consume(args: argparse.Namespace) -> None:
    """One group member; appends what it stored (before committing it), its rebalances, the
    offset jumps it saw and librdkafka's offset lines to `--out` (JSON lines, flushed at once:
    a member killed mid-way leaves its record)."""
    out = Path(args.out).open("a")

    def write(kind: str, value: Any) -> None:
        out.write(json.dumps({kind: value}) + "\n")
        out.flush()

    def note(text: str) -> None:
        write("event", f"{time.time():.3f} {text}")

    handler = logging.Handler()
    handler.emit = lambda record: write("log", f"{time.time():.3f} {record.getMessage()}")  # type: ignore[method-assign]
    logger = logging.getLogger(f"rdkafka-{args.id}")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    config = ConsumerConfig(args.bootstrap, args.group, session_timeout_ms=2000,
                            heartbeat_interval_ms=300)  # fmt: skip
    conf = config.kafka_consumer()
    conf.update({"logger": logger, "log_level": 7, "debug": "topic"})
    consumer = Consumer(conf)
    expected: dict[int, int] = {}

    tracker = OffsetTracker(counters=OffsetCounters()) if args.defend else None

    def on_assign(c: Consumer, parts: list[TopicPartition]) -> None:
        if tracker is not None:
            tracker.on_assign(c, parts)
        committed = c.committed(parts, timeout=5)
        note("assign " + " ".join(f"{tp.partition}@{tp.offset}" for tp in committed))
        for tp in committed:
            if tp.offset >= 0:
                expected[tp.partition] = tp.offset
            else:
                expected.pop(tp.partition, None)

    def on_revoke(_c: Consumer, parts: list[TopicPartition]) -> None:
        note("revoke " + " ".join(str(tp.partition) for tp in parts))
        for tp in parts:
            if tracker is not None:
                tracker.revoked((tp.topic, tp.partition))
        for tp in parts:
            expected.pop(tp.partition, None)

    consumer.subscribe([args.topic], on_assign=on_assign, on_revoke=on_revoke, on_lost=on_revoke)
    stop = Path(args.stop)
    offsets: dict[int, int] = {}
    batch: list[tuple[int, int, str]] = []
    batch_started = time.monotonic()
    while not stop.exists():
        reread: set[tuple[str, int]] = set()  # as the processor: one seek per partition a poll
        for msg in consumer.consume(num_messages=5000, timeout=0.1):
            err = msg.error()
            if err is not None:
                if err.code() != KafkaError._PARTITION_EOF:
                    note(f"error {err}")
                continue
            p, o = msg.partition() or 0, msg.offset() or 0
            if tracker is not None:  # the consumer's defence (strategies/offsets.py)
                tp = (args.topic, p)
                due = tracker.expected.get(tp)
                if due is not None and due != o:
                    if tp in reread or tracker.reread(consumer, tp, o):
                        reread.add(tp)
                        continue
                elif tracker.holes_open:
                    before = tracker.counters.late_batches
                    tracker.arrived(tp)
                    if tracker.counters.late_batches > before:
                        note(f"late batch p{p} at {o} (re-read)")
                tracker.expected[tp] = o + 1
            want = expected.get(p)
            if want is not None and o != want:
                note(f"{'gap' if o > want else 'rewind'} p{p} expected {want} got {o}")
            expected[p] = o + 1
            batch.append((p, o, (msg.value() or b"").decode()))
            offsets[p] = o + 1
        if tracker is not None and tracker.holes_open:
            tracker.retry_holes(consumer)
        if offsets and time.monotonic() - batch_started > 0.3:
            time.sleep(0.02)  # the insert
            write("seen", batch)
            parts = [TopicPartition(args.topic, p, o) for p, o in sorted(offsets.items())]
            try:
                consumer.commit(offsets=parts, asynchronous=False)
            except Exception as exc:  # recorded, like ours (a failed commit: redelivery)
                note(f"commit failed {exc}")
            offsets.clear()
            batch = []
            batch_started = time.monotonic()
    write("seen", batch)  # read but neither stored nor committed: counted as read anyway
    consumer.close()
    out.close()


def _records(path: Path) -> dict[str, list[Any]]:
    found: dict[str, list[Any]] = {"seen": [], "event": [], "log": []}
    for line in path.read_text().splitlines():
        for kind, value in json.loads(line).items():
            if kind == "seen":
                found["seen"] += value
            else:
                found[kind].append(value)
    return found


def read_back(bootstrap: str, topic: str) -> dict[str, Any]:
    conf = consumer_config(bootstrap, f"readback-{time.time()}",
                           **{"isolation.level": "read_uncommitted"})  # fmt: skip
    consumer = Consumer(conf)
    highs = {}
    for p in range(PARTITIONS):
        highs[p] = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=5)
    consumer.assign([TopicPartition(topic, p, 0) for p in range(PARTITIONS)])
    stored: list[tuple[int, int, str]] = []
    idle = time.monotonic()
    while time.monotonic() - idle < 3:
        msgs = consumer.consume(num_messages=10000, timeout=0.5)
        for msg in msgs:
            if msg.error() is None:
                stored.append(
                    (msg.partition() or 0, msg.offset() or 0, (msg.value() or b"").decode())
                )
        if msgs:
            idle = time.monotonic()
    consumer.close()
    return {"stored": stored, "watermarks": highs}


def rejoin(bootstrap: str, topic: str, group: str, seconds: float = 8.0) -> tuple[int, list[str]]:
    """A new member of the finished group: how much it re-reads, and librdkafka's reset lines."""
    logs: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: logs.append(record.getMessage())  # type: ignore[method-assign]
    logger = logging.getLogger("rdkafka-rejoin")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    conf = ConsumerConfig(bootstrap, group, session_timeout_ms=2000,
                          heartbeat_interval_ms=300).kafka_consumer()  # fmt: skip
    conf.update({"logger": logger, "log_level": 7, "debug": "topic"})
    consumer = Consumer(conf)
    consumer.subscribe([topic])
    read = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        read += sum(1 for m in consumer.consume(num_messages=10000, timeout=0.2) if not m.error())
    consumer.close()
    return read, [ln for ln in logs if "reset" in ln.lower()]


def _ranges(offsets: list[int]) -> str:
    spans: list[list[int]] = []
    for o in offsets:
        if spans and spans[-1][1] == o - 1:
            spans[-1][1] = o
        else:
            spans.append([o, o])
    return ", ".join(f"{a}-{b}" if a != b else str(a) for a, b in spans)


def _ident(value: str) -> str:
    v = json.loads(value)
    return f"{v['p']}-{v['i']}"


def _spawn(role: str, extra: list[str], log: Path) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, __file__, role, *extra]
    return subprocess.Popen(cmd, stdout=log.open("w"), stderr=subprocess.STDOUT)


def one_round(args: argparse.Namespace, bootstrap: str, work: Path, n: int) -> bool:
    topic = f"probe-{n}-{int(time.time())}"
    ensure_topics(bootstrap, [topic], partitions=PARTITIONS)
    group = f"probe-group-{n}"
    stop = work / f"stop-{n}"
    common = ["--bootstrap", bootstrap, "--topic", topic]
    defend = ["--defend"] if args.defend else []
    cons = [
        _spawn("consume", [*common, *defend, "--group", group, "--id", str(c), "--stop", str(stop),
                           "--out", str(work / f"c{n}-{c}.jsonl")], work / f"c{n}-{c}.log")
        for c in range(2)
    ]  # fmt: skip
    time.sleep(4)  # the group forms
    prods = [
        _spawn("produce", [*common, "--id", str(p), "--messages", str(args.messages),
                           "--rate", str(args.rate), "--burst-share", str(args.burst_share),
                           "--max-burst", str(args.max_burst),
                           "--out", str(work / f"p{n}-{p}.json")],
               work / f"p{n}-{p}.log")
        for p in range(args.producers)
    ]  # fmt: skip
    if args.churn:
        time.sleep(args.messages / args.rate * 0.4)
        cons[1].terminate()  # SIGTERM: close() is not reached; the member times out
        cons[1].wait()
        cons.append(
            _spawn("consume", [*common, *defend, "--group", group, "--id", "2", "--stop", str(stop),
                               "--out", str(work / f"c{n}-2.jsonl")], work / f"c{n}-2.log")
        )  # fmt: skip
    for p in prods:
        p.wait()
    time.sleep(args.settle)
    stop.touch()
    for c in cons:
        c.wait()
    back = read_back(bootstrap, topic)
    reread, resets = rejoin(bootstrap, topic, group) if args.rejoin else (0, [])
    acked: dict[str, tuple[int, int]] = {}
    failed = 0
    for q in range(args.producers):
        data = json.loads((work / f"p{n}-{q}.json").read_text())
        failed += len(data["failed"])
        for part, off, value in data["acked"]:
            acked[_ident(value)] = (part, off)
    stored = {_ident(v): (p, o) for p, o, v in back["stored"]}
    consumed: dict[str, int] = defaultdict(int)
    notes: list[str] = []
    for m in range(3):
        path = work / f"c{n}-{m}.jsonl"
        if not path.exists():
            continue
        data = _records(path)
        for _p, _o, v in data["seen"]:
            consumed[_ident(v)] += 1
        notes += [f"c{m} {e}" for e in data["event"]]
        notes += [
            f"c{m} rdkafka {line}"
            for line in data["log"]
            if "reset" in line.lower() or "out of range" in line.lower()
        ]
    by_part: dict[int, list[int]] = defaultdict(list)
    for part, o, _v in back["stored"]:
        by_part[part].append(o)
    print(f"round {n}: topic {topic}")
    for part in range(PARTITIONS):
        offs = sorted(by_part[part])
        holes = sum(1 for a, b in itertools.pairwise(offs) if b != a + 1)
        dup_offsets = len(offs) - len(set(offs))
        print(f"  partition {part}: {len(offs)} messages, offsets {offs[:1]}..{offs[-1:]}, "
              f"watermarks {back['watermarks'][part]}, holes {holes}, repeated offsets "
              f"{dup_offsets}")  # fmt: skip
    if args.rejoin:
        print(f"  a new member of the finished group re-read {reread} messages")
        for line in resets:
            print(f"    rdkafka {line[:300]}")
    lost_at_broker = [k for k in acked if k not in stored]
    skipped = [k for k in stored if k not in consumed]
    redelivered = sum(c - 1 for c in consumed.values() if c > 1)
    print(f"  acked {len(acked)} (failed {failed}); stored {len(stored)}; group consumed "
          f"{len(consumed)} distinct, {redelivered} redeliveries")  # fmt: skip
    print(f"  acked but not stored: {len(lost_at_broker)} {lost_at_broker[:10]}")
    print(f"  stored but never consumed by the group: {len(skipped)}")
    missing: dict[int, list[int]] = defaultdict(list)
    for k in skipped:
        missing[stored[k][0]].append(stored[k][1])
        if acked.get(k) != stored[k]:
            print(f"    {k} stored at {stored[k]} but acked at {acked.get(k)}")
    for part, offs in sorted(missing.items()):
        print(f"    partition {part}: offsets {_ranges(sorted(offs))}")
    for line in sorted(notes, key=lambda ln: ln.split(" ", 2)[1]):
        print(f"  {line[:300]}")
    return not lost_at_broker and not skipped


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="role")
    p = sub.add_parser("produce")
    c = sub.add_parser("consume")
    for s in (p, c):
        s.add_argument("--bootstrap", required=True)
        s.add_argument("--topic", required=True)
        s.add_argument("--id", type=int, required=True)
        s.add_argument("--out", required=True)
    p.add_argument("--messages", type=int, required=True)
    p.add_argument("--rate", type=float, required=True)
    p.add_argument("--burst-share", type=float, default=0.3)
    p.add_argument("--max-burst", type=int, default=20)
    c.add_argument("--group", required=True)
    c.add_argument("--stop", required=True)
    c.add_argument("--defend", action="store_true")
    parser.add_argument("--messages", type=int, default=20_000, help="per producer")
    parser.add_argument("--rate", type=float, default=5000, help="messages/s per producer")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--producers", type=int, default=2)
    parser.add_argument(
        "--burst-share",
        type=float,
        default=0.3,
        help="share of sends that are 1,000-message bursts (else 1-20)",
    )
    parser.add_argument("--max-burst", type=int, default=20, help="largest small burst")
    parser.add_argument(
        "--defend", action="store_true", help="consumers re-read holes as ours does"
    )
    parser.add_argument("--settle", type=float, default=5.0)
    parser.add_argument("--nice-broker", type=int, default=0, help="renice Tansu (e.g. 19)")
    parser.add_argument("--rejoin", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--churn", action=argparse.BooleanOptionalAction, default=True)
    args = parser.parse_args()
    if args.role == "produce":
        produce(args)
        return 0
    if args.role == "consume":
        consume(args)
        return 0
    ok = True
    with tempfile.TemporaryDirectory(prefix="probe-kafka-") as tmp:
        work = Path(tmp)
        stack = Stack(work / "stack", ["kafka"])
        try:
            urls: dict[str, str] = {}
            for status in stack.up():
                urls.update(status.urls)
                if args.nice_broker and status.pid:
                    # a broker that loses the CPU often (as on the shared bench machine)
                    # widens any window between its steps
                    os.setpriority(os.PRIO_PROCESS, status.pid, args.nice_broker)
            bootstrap = urls["kafka_bootstrap_servers"]
            for n in range(args.rounds):
                ok = one_round(args, bootstrap, work, n) and ok
            if os.environ.get("PROBE_KEEP"):
                keep = Path(os.environ["PROBE_KEEP"])
                subprocess.run(["cp", "-r", str(work), str(keep)], check=False)
        finally:
            stack.down()
    print("OK: nothing lost" if ok else "LOSS: see above")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
