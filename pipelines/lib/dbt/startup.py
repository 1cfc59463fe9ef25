"""Results dbt computes again in every new process, kept on disk instead (`install`).

Measured in a run worker (a fresh process that loaded the code location), the first in-process
dbt invocation spends about 1.4 s more than the second before its first node, most of it in two
pure functions of the installed code and of a file:

- the JSON schemas dbt validates `dbt_project.yml`, the profile and the selectors against
  (`dbtClassMixin.json_schema()`, mashumaro's schema builder over every nested dataclass: 0.67 s
  for seven classes). A schema is a function of its class's definition only, so it is kept per
  class, in a file named by the versions of dbt, its adapter and mashumaro: a change of any of
  them starts a new file;
- the decoding of the saved partial parse (`partial_parse.msgpack`, `Manifest.from_msgpack`:
  0.35-0.4 s, mostly mashumaro generating its decoders on first use). The decoded manifest is
  kept pickled, named by the SHA-256 of the msgpack's bytes (and the same versions): the same
  bytes decode to the same manifest, so dbt's own checks (is the saved parse still valid for
  these files, profile and vars?) run unchanged on an identical object. Unpickling takes
  about 30 ms. dbt rewrites the msgpack only when it parsed again, so a refresh finds it;
- the Python code Jinja compiles each template to (a node's SQL, every macro it calls: about
  190 templates in a refresh, over a second of CPU, each compiled again in every process).
  Jinja's own bytecode cache does this for templates from a loader, which dbt's are not: the
  code object is kept (marshal) per template, named by the SHA-256 of its source, name and the
  environment's parsing options, filters and tests (the compiler checks those by name), under
  the same versions. Rendering, and every value a template sees, are as before.

Nothing else changes: dbt still validates every file and decides on its own whether to parse.
A cache file that cannot be read is ignored (and written again).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import json
import logging
import marshal
import os
import pickle
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

# what the cached results depend on: dbt's own code, the schema builder, Jinja's compiler and
# runtime (the compiled code calls into them), the semantic objects a manifest holds
DISTRIBUTIONS = (
    "dbt-core", "dbt-common", "dbt-adapters", "dbt-clickhouse", "mashumaro", "jinja2",
    "markupsafe", "dbt-semantic-interfaces",
)  # fmt: skip
KEEP_MANIFESTS = 8  # pickled manifests kept (one per target dir in use, and a spare)
KEEP_TEMPLATES = 4096  # compiled templates kept (a refresh uses about 190, a full build 300)

_state: dict[str, Any] = {}  # the cache dir and dbt's own functions, once installed


@functools.cache
def versions_key() -> str:
    """A short digest of the Python and library versions the cached results depend on."""
    parts = [sys.version]
    for name in DISTRIBUTIONS:
        try:
            parts.append(f"{name}=={importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            parts.append(f"{name}==none")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def _write_atomically(path: Path, data: bytes) -> None:
    """Write `path` whole or not at all (a concurrent reader never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# --- JSON schemas --------------------------------------------------------------------------


def _schema_file() -> Path:
    return Path(_state["dir"]) / f"json-schemas-{versions_key()}.json"


def _schemas() -> dict[str, Any]:
    """The schemas on disk (read once per process)."""
    if "schemas" not in _state:
        try:
            loaded = json.loads(_schema_file().read_text())
            _state["schemas"] = loaded if isinstance(loaded, dict) else {}
        except (OSError, ValueError):
            _state["schemas"] = {}
    schemas: dict[str, Any] = _state["schemas"]
    return schemas


def _class_key(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def cached_json_schema(cls: type) -> Any:
    """`cls.json_schema()` from the file when there, else dbt's, added to the file."""
    schemas = _schemas()
    key = _class_key(cls)
    if key not in schemas:
        schemas[key] = _state["json_schema"](cls)
        try:
            _write_atomically(_schema_file(), json.dumps(schemas, sort_keys=True).encode())
        except OSError as exc:  # a read-only state dir: the schema is still right
            log.debug("dbt JSON schema cache not written: %s", exc)
    return schemas[key]


# --- Jinja's compiled templates -----------------------------------------------------------


def _environment_key(env: Any) -> str:
    """What, besides the source, the code Jinja generates depends on."""
    options = [
        type(env).__module__, type(env).__qualname__, env.code_generator_class.__qualname__,
        sorted(env.extensions), sorted(env.filters), sorted(env.tests), env.block_start_string,
        env.block_end_string, env.variable_start_string, env.variable_end_string,
        env.comment_start_string, env.comment_end_string, env.line_statement_prefix,
        env.line_comment_prefix, env.trim_blocks, env.lstrip_blocks, env.newline_sequence,
        env.keep_trailing_newline, env.optimized, repr(env.autoescape), env.is_async,
    ]  # fmt: skip
    return json.dumps(options, default=repr)


def cached_compile(
    env: Any,
    source: Any,
    name: str | None = None,
    filename: str | None = None,
    raw: bool = False,
    defer_init: bool = False,
) -> Any:
    """`Environment.compile`, its code object read from the cache when compiled before."""
    from dbt_common.clients import jinja

    debugging = getattr(jinja, "MACRO_DEBUGGING", True)  # unknown: as if on (no cache)
    if raw or not isinstance(source, str) or debugging or "dir" not in _state:
        return _state["compile"](env, source, name, filename, raw, defer_init)
    key = json.dumps([versions_key(), _environment_key(env), name, filename, defer_init, source])
    path = Path(_state["dir"]) / "jinja" / f"{hashlib.sha256(key.encode()).hexdigest()}.code"
    try:
        return marshal.loads(path.read_bytes())
    except FileNotFoundError:
        pass
    except Exception as exc:  # damaged: compile, and write it again
        log.debug("compiled template %s not used: %s", path, exc)
    code = _state["compile"](env, source, name, filename, raw, defer_init)
    try:
        _write_atomically(path, marshal.dumps(code))
        _prune_templates(path.parent)
    except OSError as exc:
        log.debug("compiled template not cached: %s", exc)
    return code


def _prune_templates(folder: Path) -> None:
    """Past KEEP_TEMPLATES files (old projects' templates), drop the older half."""
    files = list(folder.glob("*.code"))
    if len(files) <= KEEP_TEMPLATES:
        return
    files.sort(key=lambda p: p.stat().st_mtime if p.exists() else 0.0)
    for old in files[: len(files) // 2]:
        old.unlink(missing_ok=True)


# --- the saved partial parse ---------------------------------------------------------------


def _rebuild_manifest(cls: Any, state: dict[str, Any]) -> Any:
    """The manifest pickled by `_ManifestPickler`, with a new lock (as dbt's decoder gives it)."""
    from dbt.mp_context import get_mp_context

    manifest = cls.__new__(cls)
    manifest.__dict__.update(state)
    manifest._lock = get_mp_context().Lock()
    return manifest


class _ManifestPickler(pickle.Pickler):
    """Pickles a `Manifest` by its attributes but its lock.

    dbt's own `Manifest.__reduce_ex__` passes its fields positionally and has fallen out of step
    with the dataclass (it lacks `fixtures`, so every later field lands one place off).
    """

    def reducer_override(self, obj: Any) -> Any:
        from dbt.contracts.graph.manifest import Manifest

        if type(obj) is Manifest:
            state = {k: v for k, v in vars(obj).items() if k != "_lock"}
            return _rebuild_manifest, (Manifest, state)
        return NotImplemented


def dump_manifest(manifest: Any) -> bytes:
    import io

    out = io.BytesIO()
    _ManifestPickler(out, protocol=pickle.HIGHEST_PROTOCOL).dump(manifest)
    return out.getvalue()


def _manifest_file(data: bytes) -> Path:
    digest = hashlib.sha256(data).hexdigest()[:32]
    return Path(_state["dir"]) / f"partial-parse-{versions_key()}-{digest}.pickle"


def _prune(keep: Path) -> None:
    """Keep the KEEP_MANIFESTS newest pickled manifests."""
    files = sorted(
        Path(_state["dir"]).glob("partial-parse-*.pickle"),
        key=lambda p: p.stat().st_mtime if p.exists() else 0.0,
        reverse=True,
    )
    for old in files[KEEP_MANIFESTS:]:
        if old != keep:
            old.unlink(missing_ok=True)


def cached_from_msgpack(cls: type, data: bytes, *args: Any, **kwargs: Any) -> Any:
    """`Manifest.from_msgpack(data, ...)` unpickled when these bytes were decoded before."""
    path = _manifest_file(data)
    try:
        manifest = pickle.loads(path.read_bytes())
        if type(manifest) is cls:
            path.touch()  # recently used: kept by _prune
            return manifest
    except FileNotFoundError:
        pass
    except Exception as exc:  # a damaged or foreign file: decode, and write it again
        log.debug("pickled dbt manifest %s not used: %s", path, exc)
    manifest = _state["from_msgpack"](data, *args, **kwargs)
    _wrap_from_msgpack(cls)
    try:
        _write_atomically(path, dump_manifest(manifest))  # before dbt changes the object
        _prune(path)
    except Exception as exc:  # unpicklable or unwritable: dbt's own result stands
        log.debug("dbt manifest not pickled: %s", exc)
    return manifest


def install(cache_dir: Path) -> bool:
    """Route dbt's schema building and partial-parse decoding through caches in `cache_dir`.

    Idempotent; the last directory given wins (one state dir per process in practice). False,
    with dbt left as it is, when dbt's internals are not where these caches expect them (a
    newer dbt-common, which is not pinned): dbt then runs without the caches, not fails.
    """
    try:
        from dbt.contracts.graph.manifest import Manifest
        from dbt_common.clients.jinja import MacroFuzzEnvironment
        from dbt_common.dataclass_schema import dbtClassMixin

        json_schema = dbtClassMixin.__dict__["json_schema"].__func__
        compile_ = MacroFuzzEnvironment.compile
    except (ImportError, AttributeError, KeyError) as exc:
        if not _state.get("warned"):
            _state["warned"] = True
            log.warning("dbt start-up caches not installed (dbt's internals moved): %r", exc)
        return False
    _state["dir"] = str(cache_dir)
    _state.pop("schemas", None)  # another dir: read its file
    if "json_schema" not in _state:
        _state["json_schema"] = json_schema
        ours: Callable[..., Any] = cached_json_schema
        dbtClassMixin.json_schema = classmethod(ours)  # type: ignore[method-assign,assignment]
        # dbt's two environments (text and native) are this class and a subclass of it
        _state["compile"] = compile_
        MacroFuzzEnvironment.compile = cached_compile  # type: ignore[method-assign,assignment]
    _wrap_from_msgpack(Manifest)
    return True


def _wrap_from_msgpack(cls: type) -> None:
    """Put `cached_from_msgpack` in front of the class's decoder (the stub or the compiled one).

    mashumaro compiles its decoder on the first call and sets it on the class in place of the
    stub, over whatever stood there: so this runs again after dbt's decoder was called.
    """
    current = cls.__dict__.get("from_msgpack")
    if current is not None and getattr(current, "__func__", None) is not cached_from_msgpack:
        _state["from_msgpack"] = current.__get__(None, cls)
        cls.from_msgpack = classmethod(cached_from_msgpack)  # type: ignore[attr-defined]
