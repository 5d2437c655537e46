"""Reading Terraform's state file and `terraform show -json` into the same records."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from provisioner.errors import UsageError
from provisioner.migrate.tfstate import parse_state, read_source
from tests.migrate.seed import SEED, STATE_FILE, load_show, load_state, taint, write


def by_address(text: str) -> dict[str, dict]:
    state = parse_state(text, source="x")
    return {r.address: dict(r.attributes) for r in state.resources}


def test_state_file_and_show_json_give_the_same_44_resources() -> None:
    from_state = by_address((SEED / "terraform.tfstate").read_text())
    from_show = by_address((SEED / "show.json").read_text())
    assert len(from_state) == 44
    assert from_state.keys() == from_show.keys()
    assert all(from_state[a]["id"] == from_show[a]["id"] for a in from_state)


def test_addresses_are_written_as_terraform_lists_them() -> None:
    state = read_source(str(STATE_FILE), cwd=Path("/"))
    found = {r.address for r in state.resources}
    assert "module.vpc.aws_subnet.public[0]" in found
    assert 'module.vpc_endpoints.aws_vpc_endpoint.this["sagemaker_api"]' in found
    assert 'aws_s3_object.folders["raw-data/"]' in found
    assert "aws_iam_role.sagemaker_execution_role" in found
    assert "data.aws_caller_identity.current" in {r.address for r in state.data}
    assert state.terraform_version == "1.11.4"
    assert state.form == "state file (format version 4)"
    assert state.base_dir == SEED


@pytest.mark.parametrize("version", [3, 5, "4", None])
def test_an_unknown_state_version_is_refused_by_name(version: object) -> None:
    doc = load_state()
    doc["version"] = version
    with pytest.raises(UsageError) as caught:
        parse_state(json.dumps(doc), source="old.tfstate")
    assert caught.value.exit_code == 2
    assert f"format version {version!r} is not one smprov reads" in caught.value.message
    assert "old.tfstate" in caught.value.message


def test_an_unknown_show_json_format_is_refused() -> None:
    doc = load_show()
    doc["format_version"] = "2.0"
    with pytest.raises(UsageError, match=r"format version '2.0' is not one smprov reads"):
        parse_state(json.dumps(doc), source="show.json")


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("{not json", "invalid JSON at line 1"),
        ("[1, 2]", "a JSON array, not an object"),
        ('{"serial": 3}', "no `version` or `format_version` field"),
        ('{"format_version": "1.2", "planned_values": {}}', "is a Terraform plan, not a state"),
        (b"\xff\xfe{}", "not UTF-8 text"),
        ('{"version": 4, "resources": {}}', "`resources` is not a list"),
        (
            '{"version": 4, "resources": [{"mode": "managed", "type": "aws_vpc", "name": "x",'
            ' "instances": [{"attributes_flat": {}}]}]}',
            "has no `attributes` (a state last written by Terraform 0.11?)",
        ),
    ],
)
def test_what_is_not_a_state_is_named(text: str | bytes, says: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_state(text, source="input")
    assert says in caught.value.message
    assert caught.value.exit_code == 2


def test_tainted_and_deposed_objects_are_read() -> None:
    doc = taint(load_state(), "module.vpc.aws_nat_gateway.this[0]")
    doc["resources"][-1]["instances"][0]["deposed"] = "00aa11bb"
    state = parse_state(json.dumps(doc), source="x")
    tainted = [r.address for r in state.resources if r.tainted]
    assert tainted == ["module.vpc.aws_nat_gateway.this[0]"]
    assert [r.deposed for r in state.resources if r.deposed] == ["00aa11bb"]


def test_show_json_reads_tainted_and_deposed_flags() -> None:
    doc = load_show()
    vpc_module = next(
        m for m in doc["values"]["root_module"]["child_modules"] if m["address"] == "module.vpc"
    )
    vpc_module["resources"][10]["tainted"] = True
    state = parse_state(json.dumps(doc), source="x")
    assert sum(r.tainted for r in state.resources) == 1


def test_sources_missing_or_a_directory_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"^nope\.tfstate: no such file$"):  # as the user typed it
        read_source("nope.tfstate", cwd=tmp_path)
    with pytest.raises(UsageError, match="is a directory, not a Terraform state"):
        read_source(".", cwd=tmp_path)


def test_standard_input_is_read_for_a_dash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = (SEED / "show.json").read_bytes()
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(data)))
    state = read_source("-", cwd=tmp_path)
    assert state.source == "standard input"
    assert state.base_dir == tmp_path
    assert len(state.resources) == 44


def test_a_relative_path_is_taken_from_the_working_directory(tmp_path: Path) -> None:
    (tmp_path / "tf").mkdir()
    write(load_state(), tmp_path / "tf" / "prod.tfstate")
    state = read_source("tf/prod.tfstate", cwd=tmp_path)
    assert state.base_dir == tmp_path / "tf"
