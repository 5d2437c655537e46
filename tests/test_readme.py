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


def test_the_configuration_reference_is_the_one_config_keys_give() -> None:
    from provisioner.config_reference import COMMAND, rewrite

    assert rewrite(README) == README, f"README's configuration table is stale: run `{COMMAND}`"


def test_ci_runs_exactly_the_readme_test_command() -> None:
    """README, .ci/run and the workflow's test job run one and the same command."""
    import yaml

    blocks = re.findall(r"```sh\n(.*?)```", README, flags=re.S)
    test_command = next(line for b in blocks for line in b.splitlines() if "pytest" in line)
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert test_command.strip() in [line.strip() for line in ci]
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "smprov.yml").read_text())
    runs = [s["run"].strip() for s in workflow["jobs"]["test"]["steps"] if "run" in s]
    assert runs == [test_command.strip()]


def test_the_supported_pythons_are_what_ci_tests_and_pyproject_allows() -> None:
    import tomllib

    import yaml

    said = re.search(r"smprov supports Python ((?:3\.\d+(?:, | and )?)+)", README)
    assert said is not None
    versions = re.findall(r"3\.\d+", said.group(1))
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "smprov.yml").read_text())
    assert workflow["jobs"]["test"]["strategy"]["matrix"]["python-version"] == versions
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["requires-python"] == f">={versions[0]}"
    classifiers = {c.rsplit(" :: ", 1)[1] for c in project["classifiers"] if "Python :: 3." in c}
    assert classifiers == set(versions)


def test_every_cli_command_is_documented() -> None:
    import typer

    names = typer.main.get_command(app).commands  # type: ignore[attr-defined]
    assert {"plan", "up", "down", "status", "output"} <= set(names)
    for name in names:
        assert f"smprov {name}" in README, name


def _cli_section() -> str:
    return README.split("<!-- cli-table -->")[1].split("\n## ")[0]


def _leaf_commands() -> list[tuple[str, object]]:
    """Every runnable command as its words after `smprov` (`state pull`, `local stop`, ...)."""
    import typer

    found: list[tuple[str, object]] = []

    def walk(prefix: str, command: object) -> None:
        children = getattr(command, "commands", None)
        if children:
            for name, child in children.items():
                walk(f"{prefix} {name}".strip(), child)
        else:
            found.append((prefix, command))

    walk("", typer.main.get_command(app))
    return found


COMMON = {"--config", "-c", "--state", "--local", "--help", "-h"}


def test_the_cli_table_lists_every_option_of_every_command() -> None:
    """Each command's row names its options; the common ones are in the paragraph under it."""
    section = _cli_section()
    table, after = section.split("<!-- /cli-table -->")
    rows = [line for line in table.splitlines() if line.startswith("| `smprov ")]
    for words, command in _leaf_commands():
        mine = [r for r in rows if f"smprov {words}" in r.split("|")[1]]
        assert mine, f"`smprov {words}` has no row in README's CLI table"
        row = "\n".join(mine)  # a command may have a row per use (`import`, `import --from-...`)
        for param in command.params:  # type: ignore[attr-defined]
            for opt in [*param.opts, *param.secondary_opts]:
                if not opt.startswith("-"):
                    continue
                where = after if opt in COMMON else row
                assert any(f"{c}{opt}" in where for c in "`[ /"), (
                    f"README does not document {opt} of `smprov {words}`"
                )


def test_readme_states_exit_codes_and_the_local_state_default() -> None:
    section = _cli_section()
    for code in ("`0` success", "`1` an AWS", "`2` a usage or configuration error", "`3` changes"):
        assert code in section
    assert "`130` interrupted" in section
    assert "`state/local/<environment>.json` with\n`--local`" in section


def test_every_command_but_local_takes_the_common_options() -> None:
    """The paragraph under the CLI table: `--config`/`-c`, `--state` and `--local` everywhere
    except `smprov local ...`."""
    assert "Common options (every command above except `local`)" in _cli_section()
    for words, command in _leaf_commands():
        params = command.params  # type: ignore[attr-defined]
        opts = {o for p in params for o in [*p.opts, *p.secondary_opts]}
        common = {"--config", "-c", "--state", "--local"}
        if words.startswith("local "):
            assert not common & opts, words
        else:
            assert common <= opts, f"`smprov {words}` lacks {sorted(common - opts)}"


def test_the_call_counts_the_readme_gives_are_the_ones_the_budget_asserts() -> None:
    from tests.test_call_budget import NO_CHANGE, TEARDOWN_SKIPS, TERRAFORM_IMPORT_WRITES

    text = " ".join(README.split())
    reads = sum(NO_CHANGE.values())
    teardown = sum((NO_CHANGE - TEARDOWN_SKIPS).values())
    assert f"ask only what exists ({teardown} reads for the default stack, not {reads})" in text
    assert f"no-change `up`/`plan` ({reads} requests for the default stack, 0 mutating" in text
    tags = sum(TERRAFORM_IMPORT_WRITES.values())
    assert f"resource; {tags} for the seed stack in `tests/test_call_budget.py`)" in text


def test_the_benchmark_targets_are_the_last_measured_ones() -> None:
    """The README's targets table is the one `python -m bench --write-results` last wrote."""
    results = (ROOT / "bench" / "RESULTS.md").read_text()
    measured = results.split("## Targets")[1].split("\n## ")[0]
    block = README.split("<!-- bench-targets -->")[1].split("<!-- /bench-targets -->")[0]

    def rows(text: str) -> list[str]:
        return [line for line in text.splitlines() if line.startswith("|")]

    assert rows(block) and rows(block) == rows(measured)


def test_the_container_image_uses_the_python_the_readme_names() -> None:
    said = re.search(r"the container image uses (3\.\d+)\)", README)
    assert said is not None
    image = re.search(r"^ARG PYTHON_IMAGE=python:(\S+)$", (ROOT / "Dockerfile").read_text(), re.M)
    assert image is not None and image.group(1).startswith(f"{said.group(1)}.")


def test_the_configuration_names_every_key_aws_checks_at_start_up() -> None:
    from provisioner.preflight import CHECKS

    said = " ".join(README.split("checked with read-only calls at start-up:")[1].split())
    said = said.split("(`down`")[0]
    checked = {key for check in CHECKS for key in check.keys} - {"region"}
    assert sorted(k for k in checked if f"`{k}`" not in said) == []


def test_every_environment_variable_smprov_reads_is_documented() -> None:
    package = ROOT / "provisioner"
    read = {
        name
        for path in package.rglob("*.py")
        for name in re.findall(r"\"(SMPROV_[A-Z_]+)\"", path.read_text())
    }
    assert {"SMPROV_LOCAL_PORT", "SMPROV_HOME"} <= read
    assert sorted(name for name in read if f"`{name}" not in README) == []
