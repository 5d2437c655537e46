"""The house's layers: a module imports only from its own package or from layers below it.

The order is the map in docs/architecture.md: plain values at the bottom, AWS plumbing, the
state store, the engine (with the Kind contract), what kinds share, the kinds, the blueprint,
outputs, the operations behind the CLI, and the CLI on top. Imports inside functions count too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "provisioner"

#: Bottom first. Modules of one layer may not import each other unless they share a package.
LAYERS: list[tuple[str, ...]] = [
    ("__init__",),
    ("errors",),
    ("network", "keys"),
    ("config",),
    ("config_reference",),
    ("aws",),
    ("store",),
    ("engine",),
    ("kind_helpers",),
    ("kinds",),
    ("blueprint",),
    ("preflight",),
    ("permissions",),
    ("outputs",),
    ("migrate",),
    ("emulator_fidelity",),
    ("emulator", "local"),
    ("operations",),
    ("terraform_import",),
    ("render",),
    ("cli",),
]


def _component(module: str) -> str:
    """``provisioner.engine.model`` -> ``engine``; ``provisioner`` itself -> ``__init__``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _layer(component: str) -> int:
    for index, layer in enumerate(LAYERS):
        if component in layer:
            return index
    raise AssertionError(f"provisioner.{component} is in no layer: add it to LAYERS")


def _module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts.pop()
    return ".".join(parts)


def _is_module(name: str) -> bool:
    return (PACKAGE / f"{name}.py").exists() or (PACKAGE / name / "__init__.py").exists()


def _imports(path: Path) -> list[tuple[int, str]]:
    """Every provisioner module ``path`` imports (``from provisioner import x`` names x)."""
    tree = ast.parse(path.read_text(), str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("provisioner")]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "provisioner":  # a module of the package, or a name of __init__
                found += [
                    (node.lineno, f"provisioner.{a.name}" if _is_module(a.name) else "provisioner")
                    for a in node.names
                ]
            elif node.module.startswith("provisioner."):
                found.append((node.lineno, node.module))
    return found


MODULES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_import_runs_up_the_layers(path: Path) -> None:
    own = _component(_module_name(path))
    wrong = []
    for line, target in _imports(path):
        other = _component(target)
        if other == own:
            continue
        if _layer(other) >= _layer(own):
            wrong.append(f"line {line}: {target} (layer {_layer(other)} >= {_layer(own)})")
    assert not wrong, f"{path.relative_to(PACKAGE)} imports upwards or sideways: {wrong}"


def test_every_package_is_placed() -> None:
    for path in MODULES:
        _layer(_component(_module_name(path)))


def test_the_check_catches_an_upward_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from provisioner.kinds import REGISTRY\n")
    assert [t for _, t in _imports(bad)] == ["provisioner.kinds"]
    assert _layer(_component("provisioner.kinds")) > _layer(_component("provisioner.engine.x"))
