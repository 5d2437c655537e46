"""moto stays on the emulator's side: the workarounds for its gaps live in
``provisioner/emulator_fidelity.py``, applied only by ``provisioner/emulator.py`` (the ``--local``
server, a separate process smprov starts with ``python -m``) and by the tests' fixtures. No module
of the CLI process, which is what talks to AWS, imports either of them or moto."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "provisioner"
EMULATOR_SIDE = {"emulator.py", "emulator_fidelity.py"}
EMULATOR_MODULES = ("provisioner.emulator", "provisioner.emulator_fidelity")


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _reaches_the_emulator(name: str) -> bool:
    return (
        name == "moto"
        or name.startswith("moto.")
        or any(name == m or name.startswith(m + ".") for m in EMULATOR_MODULES)
    )


def test_only_the_emulator_process_imports_moto_or_its_workarounds() -> None:
    offenders = {
        str(path.relative_to(PACKAGE.parent)): sorted(filter(_reaches_the_emulator, found))
        for path in sorted(PACKAGE.rglob("*.py"))
        if path.relative_to(PACKAGE).as_posix() not in EMULATOR_SIDE
        and (found := _imports(path))
        and any(map(_reaches_the_emulator, found))
    }
    assert offenders == {}


def test_the_emulator_applies_the_workarounds() -> None:
    assert "provisioner.emulator_fidelity" in _imports(PACKAGE / "emulator.py")
