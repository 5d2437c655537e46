"""`smprov --help` starts fast: it never imports boto3, botocore, moto or the engine.

Each case runs the real entry point in a fresh interpreter with ``-X importtime``, which lists
every module the process imported (on stderr), so a heavy import anywhere on the help path fails
the test, however indirect.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("boto3", "botocore", "moto", "provisioner.engine", "provisioner.operations")


def imported_modules(*args: str) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "100"}
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "provisioner.cli", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=60,
    )
    modules = set()
    for line in proc.stderr.splitlines():
        # "import time: self [us] | cumulative | imported package"
        if line.startswith("import time:") and "|" in line:
            name = line.rsplit("|", 1)[1].strip()
            if name and not name.startswith("imported package"):
                modules.add(name)
    return proc, modules


@pytest.mark.parametrize("args", [("--help",), ("up", "--help"), ("plan", "--help")])
def test_help_imports_nothing_heavy(args: tuple[str, ...]) -> None:
    proc, modules = imported_modules(*args)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Usage" in proc.stdout
    assert "typer" in modules  # the listing works: the CLI framework itself shows up
    heavy = sorted(m for m in modules if m.split(".")[0] in HEAVY or m.startswith(HEAVY))
    assert heavy == [], f"`smprov {' '.join(args)}` imported {heavy}"
