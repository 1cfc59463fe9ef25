"""`python -m ingestion consume ...` (temporary dispatch; the receiver's `serve` lands at merge)."""

import sys


def main(argv: list[str]) -> int:
    if argv[:1] == ["consume"]:
        from ingestion.consumer.cli import main as consume

        return consume(argv[1:])
    print("usage: python -m ingestion consume [--role events|feedback|all] ...", file=sys.stderr)  # noqa: T201
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
