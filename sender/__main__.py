"""`python -m sender`: the partitioned campaign dispatcher. Filled by a later issue."""

import sys


def main() -> int:
    print(  # noqa: T201
        "sender: campaign dispatch is not built yet; campaigns can be created and scheduled "
        "through the REST API (`murmur api serve`).",
        file=sys.stderr,
    )
    return 2


if __name__ == "__main__":
    sys.exit(main())
