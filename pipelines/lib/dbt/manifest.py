"""dbt's `manifest.json`, parsed once per process while the file stays the same.

A refresh step read the 1 MB manifest five times (its selection, the views and `static` models
before the build, their records after it), 10-15 ms of CPU each; the code location's check
selections read it again. The parsed dict is kept per path and reused while the file holds the
same bytes (their BLAKE2 digest, about 1 ms to read and hash): `dbt parse` writing it again
makes the next call parse the new file, however soon after.

The dict is shared: callers read it and never change it.
"""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path
from typing import Any

KEEP = 4  # manifests kept (the project's, a test's copies)

_lock = threading.Lock()
_cache: dict[Path, tuple[bytes, dict[str, Any]]] = {}


def load_manifest(path: Path) -> dict[str, Any]:
    """The parsed manifest at `path` (shared: do not modify it)."""
    path = Path(path).resolve()
    data = path.read_bytes()
    digest = hashlib.blake2b(data, digest_size=20).digest()
    with _lock:
        hit = _cache.get(path)
        if hit is not None and hit[0] == digest:
            return hit[1]
    manifest: dict[str, Any] = json.loads(data)
    with _lock:
        _cache.pop(path, None)
        while len(_cache) >= KEEP:
            _cache.pop(next(iter(_cache)))
        _cache[path] = (digest, manifest)
    return manifest
