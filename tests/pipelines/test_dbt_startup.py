"""dbt's start-up results kept on disk (pipelines/lib/dbt/startup.py) equal dbt's own."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from pipelines.defs.dbt.project import dbt_project
from pipelines.lib.dbt import startup

pytestmark = pytest.mark.unit


def _msgpack() -> bytes:
    project = dbt_project()  # parses the project when stale: writes partial_parse.msgpack
    return (project.project_dir / project.target_path / "partial_parse.msgpack").read_bytes()


def test_a_cached_json_schema_is_the_one_dbt_builds_and_is_read_back_from_its_file(
    tmp_path: Path,
) -> None:
    from dbt.contracts.project import Project

    startup.install(tmp_path)
    own = startup._state["json_schema"](Project)  # dbt's own (lru-cached) builder
    assert Project.json_schema() == own
    files = list(tmp_path.glob("json-schemas-*.json"))
    assert len(files) == 1
    startup.install(tmp_path)  # as a new process: the file is read again
    assert startup._schemas()[f"{Project.__module__}.{Project.__qualname__}"] == own
    assert Project.json_schema() == own
    Project.validate({"name": "x", "version": "1.0", "profile": "p"})  # still validates
    with pytest.raises(Exception, match="name"):
        Project.validate({"version": "1.0"})  # and still rejects


def test_a_pickled_partial_parse_decodes_to_the_manifest_dbt_decodes(tmp_path: Path) -> None:
    from dbt.contracts.graph.manifest import Manifest
    from dbt.parser.manifest import extended_mashumuro_decoder

    data = _msgpack()
    startup.install(tmp_path)
    theirs = startup._state["from_msgpack"](data, decoder=extended_mashumuro_decoder)
    startup.install(tmp_path)  # mashumaro set its compiled decoder on the class: ours again
    first = Manifest.from_msgpack(data, decoder=extended_mashumuro_decoder)  # decodes, pickles
    # mashumaro's compiled decoder did not displace the cache
    assert Manifest.__dict__["from_msgpack"].__func__ is startup.cached_from_msgpack
    pickled = list(tmp_path.glob("partial-parse-*.pickle"))
    assert len(pickled) == 1
    second = Manifest.from_msgpack(data, decoder=extended_mashumuro_decoder)  # unpickled
    assert second is not first
    for manifest in (first, second):
        assert type(manifest) is Manifest
        assert manifest.to_dict() == theirs.to_dict()  # every serialized field
        assert set(vars(manifest)) == set(vars(theirs))
        assert manifest._lock is not None
    assert second.nodes.keys() == theirs.nodes.keys()
    assert second._lock is not first._lock


def test_a_damaged_pickle_is_decoded_again_and_replaced(tmp_path: Path) -> None:
    from dbt.contracts.graph.manifest import Manifest
    from dbt.parser.manifest import extended_mashumuro_decoder

    data = _msgpack()
    startup.install(tmp_path)
    Manifest.from_msgpack(data, decoder=extended_mashumuro_decoder)
    (path,) = tmp_path.glob("partial-parse-*.pickle")
    path.write_bytes(b"not a pickle")
    manifest = Manifest.from_msgpack(data, decoder=extended_mashumuro_decoder)
    assert type(manifest) is Manifest and manifest.nodes
    assert type(pickle.loads(path.read_bytes())) is Manifest  # written again
    # other bytes, another file: a changed partial parse is never served an old manifest
    assert startup._manifest_file(data + b" ") != path


def test_a_cached_template_renders_as_dbt_compiles_it_and_bad_syntax_still_fails(
    tmp_path: Path,
) -> None:
    from dbt_common.clients import jinja
    from dbt_common.exceptions import CompilationError

    startup.install(tmp_path)
    source = "{% set n = 3 %}select {{ n * x }}{% for i in [0, 1] %}, {{ i | string }}{% endfor %}"
    fresh = startup._state["compile"](jinja.get_environment(), source)  # Jinja's own
    first = jinja.get_template(source, {})  # compiled, written
    files = list((tmp_path / "jinja").glob("*.code"))
    assert len(files) == 1
    second = jinja.get_template(source, {})  # read back
    assert first.render({"x": 2}) == second.render({"x": 2}) == "select 6, 0, 1"
    assert second.render({"x": 2}) == jinja.get_environment().template_class.from_code(
        jinja.get_environment(), fresh, {}
    ).render({"x": 2})
    assert len(list((tmp_path / "jinja").glob("*.code"))) == 1  # a hit writes nothing
    native = jinja.get_template("{{ 1 + 1 }}", {}, native=True)  # another environment
    env = jinja.get_environment(native=True)
    own = env.template_class.from_code(env, startup._state["compile"](env, "{{ 1 + 1 }}"), {})
    assert native.render({}) == own.render({})
    assert len(list((tmp_path / "jinja").glob("*.code"))) == 2
    with pytest.raises(CompilationError):
        jinja.get_template("select {{ 1 +", {})
    files[0].write_bytes(b"damaged")
    assert jinja.get_template(source, {}).render({"x": 1}) == "select 3, 0, 1"


def test_a_dbt_whose_internals_moved_runs_without_the_caches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Regression: install() reached into dbt-common (not pinned) unguarded; a renamed class
    # would have failed every dbt run of every step before its first node
    from dbt_common.clients import jinja
    from dbt_common.dataclass_schema import dbtClassMixin

    before = (dbtClassMixin.__dict__["json_schema"], jinja.MacroFuzzEnvironment.compile)
    state = dict(startup._state)
    monkeypatch.setattr(startup, "_state", {})  # as a new process
    monkeypatch.delattr(jinja, "MacroFuzzEnvironment")
    assert startup.install(tmp_path) is False
    assert "dir" not in startup._state  # nothing routed through the caches
    monkeypatch.undo()
    assert (dbtClassMixin.__dict__["json_schema"], jinja.MacroFuzzEnvironment.compile) == before
    assert startup._state == state
