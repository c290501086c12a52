"""The config package's import graph: no cycle, no import hidden in a function to dodge one.

Two checks: the static graph of every ``roomkey.config`` module (exhaustive, whatever the
import order), and each module imported first, alone, in a fresh interpreter (the real
thing: a cycle entered from that module fails there).
"""

from __future__ import annotations

import ast
import importlib.util
import subprocess
import sys
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import pytest

# Found without importing roomkey.config, so that the graph is checked (and a cycle named)
# even when the package no longer imports.
_ROOMKEY = importlib.util.find_spec("roomkey")
assert _ROOMKEY is not None and _ROOMKEY.submodule_search_locations
CONFIG = Path(_ROOMKEY.submodule_search_locations[0]) / "config"
SOURCE_ROOT = CONFIG.parent.parent
MODULES = sorted(p.stem for p in CONFIG.glob("*.py"))
PACKAGE = "roomkey.config"


def _config_targets(node: ast.Import | ast.ImportFrom) -> set[str]:
    """The ``roomkey.config`` modules an import statement runs (``__init__`` for the package)."""
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        base = node.module or ""
        names = [base, *(f"{base}.{alias.name}" for alias in node.names)]
    targets = set()
    for name in names:
        if name == PACKAGE:
            targets.add("__init__")
        elif name.startswith(PACKAGE + "."):
            stem = name.removeprefix(PACKAGE + ".").split(".")[0]
            if stem in MODULES:
                targets.add(stem)
    return targets


def _tree(module: str) -> ast.Module:
    return ast.parse((CONFIG / f"{module}.py").read_text(encoding="utf-8"))


def _imports(module: str) -> tuple[set[str], list[str]]:
    """(config modules imported at module level, every import written inside a function or
    a class)."""
    tree = _tree(module)
    nested: set[int] = set()
    local: list[str] = []
    for scope in ast.walk(tree):
        if isinstance(scope, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda):
            for node in ast.walk(scope):
                if isinstance(node, ast.Import | ast.ImportFrom) and id(node) not in nested:
                    nested.add(id(node))
                    local.append(f"{module}.py:{node.lineno}: {ast.unparse(node)}")
    top: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom) and id(node) not in nested:
            top |= _config_targets(node)
    return top - {module}, local


def test_the_package_has_the_modules_of_its_docstring() -> None:
    assert set(MODULES) == {
        "__init__",
        "table",
        "sources",
        "values",
        "settings",
        "presets",
        "sections",
        "checks",
        "identity_checks",
        "reader",
        "starter",
    }
    for module in MODULES:
        if module != "__init__":
            assert f"``{module}``" in (ast.get_docstring(_tree("__init__")) or ""), module


def test_no_config_module_imports_inside_a_function() -> None:
    local = [line for module in MODULES for line in _imports(module)[1]]
    assert not local, local


def test_the_import_graph_has_no_cycle() -> None:
    graph = {module: _imports(module)[0] for module in MODULES}
    # A module that imports the package runs __init__, which imports every module: a cycle
    # as soon as that module is imported first.
    assert not [m for m, deps in graph.items() if m != "__init__" and "__init__" in deps], graph
    try:
        order = list(TopologicalSorter(graph).static_order())
    except CycleError as exc:
        pytest.fail(f"import cycle in roomkey.config: {exc.args[1]}")
    assert order[-1] == "__init__"
    assert order.index("table") < order.index("settings") < order.index("reader")


# Stands up ``roomkey`` and ``roomkey.config`` as bare packages (their __init__ not run), so
# that the module named on the command line really is the first config module imported.
_FIRST_IMPORT = """
import importlib, sys, types
root = sys.argv[1]
for name, path in (("roomkey", root + "/roomkey"), ("roomkey.config", root + "/roomkey/config")):
    package = types.ModuleType(name)
    package.__path__ = [path]
    sys.modules[name] = package
importlib.import_module(sys.argv[2])
loaded = sorted(m for m in sys.modules if m.startswith("roomkey.config."))
print(" ".join(loaded))
"""


@pytest.mark.parametrize("module", [m for m in MODULES if m != "__init__"])
def test_each_module_imports_first_in_a_fresh_interpreter(module: str) -> None:
    name = f"{PACKAGE}.{module}"
    done = subprocess.run(
        [sys.executable, "-c", _FIRST_IMPORT, str(SOURCE_ROOT), name],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert name in done.stdout.split()


def test_the_package_imports_first_in_a_fresh_interpreter() -> None:
    done = subprocess.run(
        [sys.executable, "-c", "import roomkey.config"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=SOURCE_ROOT,
    )
    assert done.returncode == 0, done.stderr
