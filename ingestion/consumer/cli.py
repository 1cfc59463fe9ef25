"""`python -m ingestion consume`: run the events consumer, the feedback consumer, or both."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from ingestion.consumer.config import ConsumerConfig
from ingestion.consumer.gc_tuning import tune_gc
from ingestion.consumer.processor import StreamProcessor
from ingestion.consumer.procs import Children, child_argv, watch_parent
from ingestion.consumer.strategies.enrich import Enricher
from ingestion.consumer.strategies.insert import ClickHouseSink
from ingestion.feedback.sink import FeedbackSink
from murmur.db.engine import make_engine
from murmur.settings import SettingsError, get_settings

log = logging.getLogger("ingestion.consumer")
ROLES = ("events", "feedback")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m ingestion consume",
        description="Kafka email-events → ClickHouse `events` (role events) and → Postgres "
        "suppressions (role feedback), each in its own consumer group.",
    )
    parser.add_argument("--role", choices=(*ROLES, "all"), default="all")
    parser.add_argument("--group", help="group id of the events role (default from settings)")
    parser.add_argument("--feedback-group", help="group id of the feedback role")
    parser.add_argument("--topic", help="topic to read (default email-events)")
    parser.add_argument("--dlq-topic", help="dead-letter topic (default email-events-dlq)")
    parser.add_argument("--batch-size", type=_positive, help="messages per batch at most")
    parser.add_argument("--batch-time-ms", type=_positive, help="close a batch after this long")
    parser.add_argument("--stats-interval", type=float, default=10.0, help="seconds between logs")
    parser.add_argument("--status-file", type=Path, help="write counters here as JSON")
    parser.add_argument(
        "--procs",
        type=_positive,
        default=1,
        help="run the events role in this many processes of one group (default 1)",
    )
    parser.add_argument("--parent-pid", type=int, help=argparse.SUPPRESS)
    return parser


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return int(text)


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        settings = get_settings().resolved()
        engine = make_engine(settings.require("postgres_url"), pool_size=4, max_overflow=4)
        overrides = {
            "topic": args.topic,
            "dlq_topic": args.dlq_topic,
            "batch_size": args.batch_size,
            "batch_time_s": None if args.batch_time_ms is None else args.batch_time_ms / 1000,
            "stats_interval_s": args.stats_interval,
        }
        roles = ROLES if args.role == "all" else (args.role,)
        if args.procs > 1 and "events" not in roles:
            raise SettingsError("--procs applies to the events role (--role events or all)")
        stop = threading.Event()
        enricher = Enricher(engine)
        processors = []
        for role in roles:
            if role == "events":
                group = args.group or settings.consumer_group
                sink: ClickHouseSink | FeedbackSink = ClickHouseSink(settings)
            else:
                group = args.feedback_group or settings.feedback_group
                sink = FeedbackSink(
                    engine, settings.soft_bounce_limit, settings.soft_bounce_window_days
                )
            config = ConsumerConfig.from_settings(settings, group, **overrides)
            processors.append(
                StreamProcessor(config, role, sink, enricher, stop, status_file=args.status_file)
            )
    except SettingsError as exc:
        print(f"ingestion consume: error: {exc}", file=sys.stderr)  # noqa: T201
        return 2
    if args.parent_pid is not None:
        watch_parent(args.parent_pid, stop)
    children = None
    if args.procs > 1:
        children = Children(child_argv(vars(args)), args.procs - 1)
    tune_gc()  # after every import and client: what startup built is frozen
    return _run(processors, stop, children)


def _run(
    processors: list[StreamProcessor], stop: threading.Event, children: Children | None = None
) -> int:
    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %d: stopping after the batch in hand", signum)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    failed: list[BaseException] = []

    def run(processor: StreamProcessor) -> None:
        try:
            processor.run()
        except BaseException as exc:
            log.exception("%s: crashed", processor.role)
            failed.append(exc)
            stop.set()

    threads = [threading.Thread(target=run, args=(p,), name=p.role) for p in processors]
    for thread in threads:
        thread.start()
    while any(t.is_alive() for t in threads):
        if children is not None and not children.check(stop.is_set()):
            stop.set()
        for thread in threads:
            thread.join(timeout=0.5)
    if children is not None:
        children.stop()
        if children.failed:
            failed.append(RuntimeError("a consumer child process failed"))
    log.info("stopped")
    return 1 if failed else 0
