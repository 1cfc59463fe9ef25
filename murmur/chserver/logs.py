"""One JSON object per line for every statement and lifecycle event."""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any


class JsonLog:
    def __init__(self, path: Path | None) -> None:
        self._lock = threading.Lock()
        self._own = path is not None
        self._out: IO[str] = open(path, "a", buffering=1) if path is not None else sys.stderr

    def event(self, event: str, **fields: Any) -> None:
        record = {"ts": round(time.time(), 6), "event": event, **fields}
        line = json.dumps(record, default=str, ensure_ascii=False)
        with self._lock:
            try:
                self._out.write(line + "\n")
                self._out.flush()
            except (OSError, ValueError):
                pass

    def close(self) -> None:
        with self._lock:
            if self._own:
                self._out.close()
