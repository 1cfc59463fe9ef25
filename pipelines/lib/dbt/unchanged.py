"""Table models whose inputs did not change since their last build are not built again.

A table model tagged `static` (the dims, dbt_project.yml) reads only sources and seeds, through
views, and nothing that moves with the clock: its rows are a function of those tables and of
its definition. For each such model a refresh builds, it records (`tables.json` in the target
dir) a fingerprint of its inputs taken *before* the build, so a write during the build counts as
a change next time, and of its own table after it. A later refresh leaves the model and its data
tests out while its definition (SQL, config, its tests), its inputs and its own table are all
as recorded. A table's state is its UUID and its active parts (name, rows): every insert, merge,
mutation, lightweight delete, truncate or re-creation changes it; a table outside the MergeTree
family has no state, and a model reading one is always built.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from clickhouse_connect.driver.client import Client

from pipelines.lib.dbt.manifest import load_manifest

TAG = "static"
STATE_FILE = "tables.json"
PENDING_FILE = "tables.pending.json"


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()


def _relation(node: dict[str, Any]) -> str:
    return str(node.get("identifier") or node.get("alias") or node["name"])


def static_inputs(manifest: dict[str, Any]) -> dict[str, list[str]]:
    """Per `static` table model (unique id): the tables it reads (sources, seeds), by name.

    Models reading another table model (or an ephemeral one) are left out: that table may be
    rebuilt by the same run, after the fingerprint was taken.
    """
    nodes, sources = manifest["nodes"], manifest.get("sources", {})

    def tables(uid: str, seen: set[str]) -> set[str] | None:
        if uid in sources:
            return {_relation(sources[uid])}
        node = nodes.get(uid)
        if node is None:
            return None
        if node["resource_type"] == "seed":
            return {_relation(node)}
        if node["resource_type"] != "model" or node["config"].get("materialized") != "view":
            return None
        out: set[str] = set()
        for parent in node["depends_on"]["nodes"]:
            if parent in seen:
                continue
            found = tables(parent, seen | {parent})
            if found is None:
                return None
            out |= found
        return out

    result = {}
    for uid, node in nodes.items():
        if node["resource_type"] != "model" or TAG not in node.get("tags", []):
            continue
        if node["config"].get("materialized") != "table":
            continue
        read: set[str] = set()
        for parent in node["depends_on"]["nodes"]:
            found = tables(parent, {uid, parent})
            if found is None:
                break
            read |= found
        else:
            result[uid] = sorted(read)
    return result


def definition(manifest: dict[str, Any], uid: str) -> str:
    """A fingerprint of a model's SQL and config and of its data tests'."""
    nodes = manifest["nodes"]
    tests = sorted(
        n["checksum"]["checksum"] + json.dumps(n["config"], sort_keys=True)
        for n in nodes.values()
        if n["resource_type"] == "test" and uid in n["depends_on"]["nodes"]
    )
    node = nodes[uid]
    return _digest([node["checksum"]["checksum"], node["config"], tests])


def table_states(ch: Client, names: set[str]) -> dict[str, str | None]:
    """Per table of the current database: a fingerprint of its data (None: no usable state)."""
    if not names:
        return {}
    rows = ch.query(
        "select t.name, toString(t.uuid), t.engine,"
        " arraySort(groupArrayIf((p.name, p.rows), p.active))"
        " from system.tables as t"
        " left join system.parts as p on p.database = t.database and p.table = t.name"
        " where t.database = currentDatabase() and t.name in {names:Array(String)}"
        " group by t.name, t.uuid, t.engine",
        parameters={"names": sorted(names)},
    ).result_rows
    states: dict[str, str | None] = dict.fromkeys(names)
    for name, uuid, engine, parts in rows:
        if "MergeTree" in str(engine):
            states[name] = _digest([uuid, [list(p) for p in parts]])
    return states


def unchanged_static_models(ch: Client, target: Path, manifest_path: Path) -> set[str]:
    """The `static` models a refresh need not build; notes the others' inputs for the record."""
    manifest = load_manifest(manifest_path)
    inputs = static_inputs(manifest)
    names = {_relation(manifest["nodes"][uid]) for uid in inputs}
    states = table_states(ch, names | {t for read in inputs.values() for t in read})
    state_file = target / STATE_FILE
    known: dict[str, Any] = json.loads(state_file.read_text()) if state_file.exists() else {}
    pending, skip = {}, set()
    for uid, read in inputs.items():
        if any(states.get(t) is None for t in read):
            continue
        entry = {
            "definition": definition(manifest, uid),
            "inputs": _digest([[t, states[t]] for t in read]),
        }
        own = states.get(_relation(manifest["nodes"][uid]))
        recorded = known.get(uid, {})
        if own is not None and recorded == {**entry, "own": own}:
            skip.add(uid)
        else:
            pending[uid] = entry
    (target / PENDING_FILE).write_text(json.dumps(pending, indent=1, sort_keys=True))
    return skip


def record_static_models(ch: Client, target: Path, manifest_path: Path, built: set[str]) -> None:
    """After a successful run: the noted fingerprints of the `static` models it built."""
    pending_file = target / PENDING_FILE
    if not pending_file.exists():
        return
    pending: dict[str, Any] = json.loads(pending_file.read_text())
    pending_file.unlink()
    manifest = load_manifest(manifest_path)
    done = {uid: entry for uid, entry in pending.items() if uid in built}
    names = {uid: _relation(manifest["nodes"][uid]) for uid in done if uid in manifest["nodes"]}
    states = table_states(ch, set(names.values()))
    state_file = target / STATE_FILE
    known: dict[str, Any] = json.loads(state_file.read_text()) if state_file.exists() else {}
    for uid, name in names.items():
        if states.get(name) is not None:
            known[uid] = {**done[uid], "own": states[name]}
    state_file.write_text(json.dumps(known, indent=1, sort_keys=True))
