"""`python -m ingestion`: the ESP-event consumer (Kafka → ClickHouse). Filled by a later issue."""

import sys


def main() -> int:
    print(  # noqa: T201
        "ingestion: the Kafka → ClickHouse consumer is not built yet; "
        "`murmur stack up` starts the broker it will read (topics email-events, email-events-dlq).",
        file=sys.stderr,
    )
    return 2


if __name__ == "__main__":
    sys.exit(main())
