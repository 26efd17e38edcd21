"""tasks/registry.py: the one registry helper of tasks, representations and
algorithms."""
import sys

import pytest

from qd import algorithms
import representations
from tasks import registry
from tasks.registry import Registry


def test_lookups_list_the_valid_names():
    reg = Registry("widget")
    reg.add("b", 2)
    reg.add("a", 1)
    assert reg.names() == ["a", "b"] and reg.get("b") == 2
    with pytest.raises(ValueError, match="unknown widget 'c'; valid widgets: a, b"):
        reg.get("c")


def test_a_builtin_module_that_fails_to_import_is_an_error_not_a_silent_skip(tmp_path, monkeypatch):
    (tmp_path / "broken_builtin.py").write_text("import a_package_that_does_not_exist\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    reg = Registry("widget", ("broken_builtin",))
    with pytest.raises(ModuleNotFoundError, match="a_package_that_does_not_exist"):
        reg.names()
    sys.modules.pop("broken_builtin", None)
    with pytest.raises(ModuleNotFoundError):
        Registry("widget", ("no_such_builtin_module",)).get("x")


def test_tasks_representations_and_algorithms_share_it():
    assert isinstance(registry.TASKS, Registry)
    assert isinstance(representations.REPRESENTATIONS, Registry)
    assert isinstance(algorithms.ALGORITHMS, Registry)
    assert {"hardmaze", "curling", "redundant_arm"} <= set(registry.names())
    assert {"ns", "me", "random", "cmaes", "cmame", "nsga2", "serene"} <= set(algorithms.names())
