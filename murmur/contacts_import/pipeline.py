"""Run the stages of an import side by side: parse the next batch while this one is validated.

pyarrow parses, polars validates and Postgres loads, each mostly outside the GIL, so a thread
per stage keeps both cores busy. Queues are bounded (memory stays a few batches), errors of a
stage are raised in the consumer, and a consumer that stops early stops the producer.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Generator, Iterator
from typing import TypeVar

T = TypeVar("T")
_DONE = object()
_POLL_SECONDS = 0.1


def prefetch(items: Iterator[T], depth: int = 2) -> Generator[T, None, None]:
    """Yield `items`, produced by a thread that runs at most `depth` items ahead."""
    out: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                out.put(item, timeout=_POLL_SECONDS)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put(item):
                    return
        except BaseException as exc:  # re-raised in the consumer
            put(_Raised(exc))
            return
        put(_DONE)

    worker = threading.Thread(target=produce, name="import-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            item = out.get()
            if item is _DONE:
                return
            if isinstance(item, _Raised):
                raise item.exc
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        worker.join()


class _Raised:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc
