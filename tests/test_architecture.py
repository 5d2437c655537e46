"""docs/architecture.md is the map: every module it names exists, every module is on it, and its
layers are the ones tests/test_layering.py enforces."""

from __future__ import annotations

import re
from pathlib import Path

from tests.test_layering import LAYERS

ROOT = Path(__file__).resolve().parent.parent
MAP = (ROOT / "docs" / "architecture.md").read_text()
ENTRY = re.compile(r"^((?:  ){0,2})([\w.]+(?:\.py|/)|tests/\w+/)(?=\s|$)")


def _named() -> set[str]:
    """Each path the tree names (``provisioner/engine/model.py``), its nesting read from the
    indentation."""
    tree = MAP.split("```\n", 2)[1]
    parents: dict[int, str] = {}
    named: set[str] = set()
    for line in tree.splitlines():
        found = ENTRY.match(line)
        if not found:
            continue
        indent, name = len(found.group(1)), found.group(2)
        path = parents[indent - 2] + name if indent else name
        named.add(path.rstrip("/"))
        if name.endswith("/"):
            parents[indent] = path
    return named


def test_every_module_the_map_names_exists() -> None:
    named = _named()
    assert {"provisioner/cli.py", "provisioner/engine/model.py", "bench"} <= named
    assert sorted(p for p in named if not (ROOT / p).exists()) == []


def test_every_module_is_on_the_map() -> None:
    """Except each kind (`kinds/`: one module per AWS resource kind) and package inits."""
    named = _named()
    package = ROOT / "provisioner"
    modules = [
        str(p.relative_to(ROOT))
        for p in sorted(package.rglob("*.py"))
        if p.name != "__init__.py" and p.parent.name != "kinds"
    ]
    assert [m for m in modules if m not in named] == []


def test_the_map_lists_the_layers_in_order() -> None:
    said = " ".join(MAP.split("downwards through these layers")[1].split(". A module")[0].split())
    line = said.split("lazy imports included):", 1)[1]
    layers = [
        tuple(name.strip(" `").rstrip("/") for name in group.split(","))
        for group in line.split("→")
    ]
    assert layers == LAYERS[1:]  # the package's own __init__ is the bottom
