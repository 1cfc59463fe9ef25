"""The unit-marker hook of `tests/conftest.py`, run for real in a throwaway pytest project.

Regression: the hook tested `any(item.iter_markers(name=m) for m in ...)`; a generator is always
truthy, so no test was ever marked `unit` and `pytest -m unit` selected only the tests marked `unit`
by hand (7 of 90 unit tests).
"""

from __future__ import annotations

import inspect
import textwrap

import pytest

from tests import conftest as project_conftest

pytest_plugins = ["pytester"]

_INI = """
[pytest]
addopts = --strict-markers -p no:cacheprovider
markers =
    unit: unit
    integration: integration
    e2e: e2e
    slow: slow
"""

_TESTS = """
import pytest


def test_unmarked():
    pass


@pytest.mark.slow
def test_slow_only():
    pass


@pytest.mark.unit
def test_unit():
    pass


@pytest.mark.integration
def test_integration():
    pass


@pytest.mark.e2e
def test_e2e():
    pass
"""

_INTEGRATION_MODULE = """
import pytest

pytestmark = pytest.mark.integration


def test_module_marked():
    pass
"""


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    """A temp project whose conftest holds the project's real hook, copied from its source."""
    hook_source = inspect.getsource(project_conftest.pytest_collection_modifyitems)
    pytester.makeini(_INI)
    pytester.makeconftest("import pytest\n\n\n" + textwrap.dedent(hook_source))
    pytester.makepyfile(test_sample=_TESTS, test_integration_module=_INTEGRATION_MODULE)
    return pytester


def _passed(pytester: pytest.Pytester, *args: str) -> set[str]:
    result = pytester.inline_run(*args)
    passed, skipped, failed = result.listoutcomes()
    assert not skipped and not failed, (skipped, failed)
    return {report.nodeid.rsplit("::", 1)[1] for report in passed}


def test_copied_hook_is_the_project_hook(project: pytest.Pytester) -> None:
    """Guard: the temp conftest really carries the hook (decorator included), not a stub."""
    text = (project.path / "conftest.py").read_text()
    assert "def pytest_collection_modifyitems" in text
    assert "@pytest.hookimpl(tryfirst=True)" in text
    assert "add_marker(pytest.mark.unit)" in text


def test_unit_selects_unmarked_and_unit_tests(project: pytest.Pytester) -> None:
    # Regression: with the generator check `-m unit` selected only test_unit.
    assert _passed(project, "-m", "unit") == {"test_unmarked", "test_slow_only", "test_unit"}


def test_not_unit_selects_only_marked_service_tests(project: pytest.Pytester) -> None:
    assert _passed(project, "-m", "not unit") == {
        "test_integration",
        "test_e2e",
        "test_module_marked",
    }


def test_without_selection_every_test_runs(project: pytest.Pytester) -> None:
    assert len(_passed(project)) == 6
