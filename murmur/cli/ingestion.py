"""`murmur ingestion status`: consumer lag, dead letters and event counts."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from murmur.ingestion_status import collect, default_status_file, render
from murmur.kafka import DLQ_TOPIC, EVENTS_TOPIC
from murmur.settings import get_settings


def register(sub: Any) -> None:
    ingestion = sub.add_parser("ingestion", help="the event ingestion pipeline")
    isub = ingestion.add_subparsers(dest="ingestion_command", metavar="ACTION")
    isub.required = True
    status = isub.add_parser("status", help="consumer-group lag, DLQ size, counts in ClickHouse")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.add_argument("--group", action="append", help="consumer group(s) (default: both)")
    status.add_argument("--topic", default=EVENTS_TOPIC)
    status.add_argument("--dlq-topic", default=DLQ_TOPIC)
    status.add_argument(
        "--status-file",
        type=Path,
        help="the consumer's status file, for its counters "
        "(default: the local stack's, STATE_DIR/run/consumer.status.json)",
    )
    status.set_defaults(func=_status)


def _status(args: argparse.Namespace) -> int:
    settings = get_settings()
    groups = args.group or [settings.consumer_group, settings.feedback_group]
    status_file = args.status_file or default_status_file(settings)
    status = collect(settings, groups, args.topic, args.dlq_topic, status_file)
    if args.json:
        print(json.dumps(status.as_dict(), indent=2))
    else:
        print(render(status))
    return 1 if status.errors else 0
