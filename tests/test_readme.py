"""The README is the front door: it must stay true to the code and to CI."""

from __future__ import annotations

import re
from pathlib import Path

from provisioner.cli import app
from provisioner.config import CONFIG_KEYS

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def test_every_config_key_is_documented_and_nothing_else() -> None:
    table = README.split("<!-- config-table -->")[1].split("<!-- /config-table -->")[0]
    documented = re.findall(r"^\| `([a-z_]+)` \|", table, flags=re.M)
    assert documented == [k.name for k in CONFIG_KEYS]


def test_ci_runs_exactly_the_readme_test_command() -> None:
    blocks = re.findall(r"```sh\n(.*?)```", README, flags=re.S)
    test_command = next(line for b in blocks for line in b.splitlines() if "pytest" in line)
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert test_command.strip() in [line.strip() for line in ci]


def test_every_cli_command_is_documented() -> None:
    import typer

    names = typer.main.get_command(app).commands  # type: ignore[attr-defined]
    assert {"plan", "up", "down", "status", "output"} <= set(names)
    for name in names:
        assert f"smprov {name}" in README, name
