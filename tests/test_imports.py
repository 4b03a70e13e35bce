"""The import graph of ``src/facefit``: no cycle, counting imports inside functions too.

A function-level import only hides a cycle from the interpreter's start-up order: the two
modules still depend on each other, and a change of where the import sits (or a type checker)
brings the cycle back. So every ``import`` statement of the package counts, wherever it is.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import facefit

PACKAGE_ROOT = Path(facefit.__file__).parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE_ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(path): path for path in sorted(PACKAGE_ROOT.rglob("*.py"))}


def _extensions() -> set[str]:
    """The compiled modules (``backends/_raster.cpython-311-....so``): nodes without edges."""
    found = set()
    for suffix in ("*.so", "*.pyd"):
        for path in PACKAGE_ROOT.rglob(suffix):
            stem = path.name.split(".", 1)[0]
            found.add(_module_name(path.with_name(stem + ".py")))
    return found


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The package's modules that module ``name`` (file ``path``) imports, anywhere in it.

    ``from X import Y`` counts as importing ``X.Y`` where that is a module of the package, else
    ``X`` itself (Y is then a name defined in X).
    """
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name in known)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package.split(".")
                base_parts = base_parts[:len(base_parts) - node.level + 1]
                base = ".".join([*base_parts, *([node.module] if node.module else [])])
            else:
                base = node.module or ""
            for alias in node.names:
                target = f"{base}.{alias.name}"
                if target in known:
                    found.add(target)
                elif base in known:
                    found.add(base)
    found.discard(name)
    return found


def import_graph() -> dict[str, set[str]]:
    """Each module of facefit and the modules of facefit it imports."""
    modules = _modules()
    known = set(modules) | _extensions()
    graph = {name: _imports(name, path, known) for name, path in modules.items()}
    return {**{name: set() for name in known - set(modules)}, **graph}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def test_graph_sees_relative_and_function_level_imports():
    graph = import_graph()
    # a module-level relative import of a name defined in a package's __init__
    assert "facefit.errors" in graph["facefit.cli"]
    assert "facefit.backends" in graph["facefit.cli"]
    # imports inside functions count too (cli imports the model loader lazily)
    assert "facefit.model" in graph["facefit.cli"]
    # ``from . import module`` resolves to the module, also a compiled one
    assert "facefit.backends._generic" in graph["facefit.backends._convert"]
    assert "facefit.backends" not in graph["facefit.backends._numpy"]


def test_cycle_finder_finds_a_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_import_graph_has_no_cycle():
    found = cycles(import_graph())
    assert found == [], "import cycles in facefit:\n" + "\n".join(" <-> ".join(c) for c in found)


def test_host_side_modules_listed_in_pyproject_exist():
    """The per-file list of modules allowed to import NumPy (ruff TID251) names real files:
    a renamed module must not leave a stale entry that silently allows nothing."""
    import tomllib

    root = PACKAGE_ROOT.parent.parent
    if not (root / "pyproject.toml").is_file():
        pytest.skip("facefit is installed, not run from its source tree")
    config = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    lint = config["tool"]["ruff"]["lint"]
    assert "numpy" in lint["flake8-tidy-imports"]["banned-api"]
    listed = [pattern for pattern, rules in lint["per-file-ignores"].items()
              if "TID251" in rules]
    assert "src/facefit/backends/**" in listed
    for pattern in listed:
        assert list(root.glob(pattern)), f"pyproject.toml lists {pattern!r}, which matches nothing"
