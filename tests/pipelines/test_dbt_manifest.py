"""The manifest parsed once per process (pipelines/lib/dbt/manifest.py): reused while the file
holds the same bytes, parsed again as soon as they change."""

from __future__ import annotations

import json
from pathlib import Path

from pipelines.lib.dbt.manifest import load_manifest


def _write(path: Path, version: str) -> None:
    path.write_text(json.dumps({"nodes": {"model.p.m": {"checksum": version}}}))


def test_the_same_file_is_parsed_once_and_a_rewrite_is_read_at_once(tmp_path: Path) -> None:
    path = tmp_path / "manifest.json"
    _write(path, "v1")
    first = load_manifest(path)
    assert first["nodes"]["model.p.m"]["checksum"] == "v1"
    assert load_manifest(path) is first  # not parsed again
    # rewritten at once with the same size (same modification tick, maybe): still seen
    _write(path, "v2")
    again = load_manifest(path)
    assert again["nodes"]["model.p.m"]["checksum"] == "v2"
    assert load_manifest(tmp_path / "." / "manifest.json") is again  # one entry per file


def test_each_file_has_its_own_entry(tmp_path: Path) -> None:
    paths = [tmp_path / f"m{i}.json" for i in range(6)]
    for i, path in enumerate(paths):
        _write(path, f"v{i}")
    loaded = [load_manifest(p)["nodes"]["model.p.m"]["checksum"] for p in paths]
    assert loaded == [f"v{i}" for i in range(6)]  # more files than kept: each still its own
    assert load_manifest(paths[-1]) is load_manifest(paths[-1])
