"""Step 3: collect events by size and time, remembering the offsets they came from."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from ingestion.consumer.abstract import Message, Row


@dataclass
class Batch:
    events: list[Row] = field(default_factory=list)
    # (topic, partition) → next offset to commit, for every message seen (valid or poison)
    offsets: dict[tuple[str, int], int] = field(default_factory=dict)
    started: float = 0.0
    messages: int = 0

    def __len__(self) -> int:
        return self.messages


class Batcher:
    """Closes a batch at `max_size` messages or `max_time_s` after its first message."""

    def __init__(self, max_size: int, max_time_s: float) -> None:
        self.max_size = max_size
        self.max_time_s = max_time_s
        self.current = Batch()

    def add(self, message: Message, event: Row | None) -> None:
        batch = self.current
        if batch.messages == 0:
            batch.started = time.monotonic()
        if event is not None:
            batch.events.append(event)
        batch.offsets[(message.topic, message.partition)] = message.offset + 1
        batch.messages += 1

    def ready(self) -> bool:
        batch = self.current
        if batch.messages == 0:
            return False
        full = batch.messages >= self.max_size
        return full or time.monotonic() - batch.started >= self.max_time_s

    def take(self) -> Batch:
        batch, self.current = self.current, Batch()
        return batch

    def drop_partitions(self, revoked: set[tuple[str, int]]) -> None:
        """Never commit revoked partitions: their new owner re-reads them (sinks dedupe)."""
        for tp in revoked:
            self.current.offsets.pop(tp, None)
