"""The package's layers: every import between facefit's subpackages points downward.

Lower layers never import higher ones (a function-level import counts too), so each layer can
be read, tested and replaced knowing only what lies beneath it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import facefit

#: facefit's top-level modules and subpackages, lowest first.
LAYERS = ["errors", "_version", "backends", "geometry", "polygons", "lighting", "sampling",
          "camera", "params", "forward", "io", "model", "render", "outputs", "detect", "fit",
          "generate", "bench", "cli", "__main__"]

ROOT = Path(facefit.__file__).parent


def _imports() -> list[tuple[str, str, str]]:
    """(importing file, its layer, imported layer) for every import between layers."""
    found = []
    for path in ROOT.rglob("*.py"):
        relative = path.relative_to(ROOT)
        layer = relative.parts[0].removesuffix(".py")
        if layer == "__init__":
            continue  # the package root re-exports every layer
        package = list(relative.parent.parts)
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level:
                base = package[:len(package) - (node.level - 1)] if node.level > 1 else package
                target = [*base, *(node.module.split(".") if node.module else [])]
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("facefit."):
                target = node.module.split(".")[1:]
            else:
                continue
            if target and target[0] != layer:
                found.append((str(relative), layer, target[0]))
    return found


def test_every_layer_is_listed():
    names = {p.name.removesuffix(".py") for p in ROOT.iterdir()
             if (p.suffix == ".py" or (p / "__init__.py").exists()) and p.name != "__init__.py"}
    assert names <= set(LAYERS), f"add {sorted(names - set(LAYERS))} to LAYERS"


def test_imports_point_downward():
    upward = [f"{path} ({layer}) imports {target}" for path, layer, target in _imports()
              if LAYERS.index(target) > LAYERS.index(layer)]
    assert not upward, "\n".join(upward)


def test_the_check_sees_imports():
    pairs = {(layer, target) for _, layer, target in _imports()}
    assert ("fit", "forward") in pairs and ("model", "forward") in pairs
