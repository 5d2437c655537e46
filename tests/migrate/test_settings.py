"""The smprov.toml derived from a Terraform state: valid, faithful, and compared semantically
with an existing one."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

from provisioner.config import parse_config
from provisioner.migrate.mapping import map_state
from provisioner.migrate.settings import derive, differences, render
from provisioner.migrate.tfstate import parse_state
from tests.migrate.seed import SEED, find, load_state, per_zone_nat, with_resource

A, B = "us-east-1a", "us-east-1b"


def derived(doc: dict[str, Any], base: Path = SEED) -> Any:
    return derive(map_state(parse_state(json.dumps(doc), source="tf", base_dir=base)), base)


def loaded(text: str, base: Path) -> Any:
    return parse_config(tomllib.loads(text), base_dir=base, source="smprov.toml")


def test_the_written_file_is_a_valid_configuration_of_the_same_values(tmp_path: Path) -> None:
    result = derived(load_state())
    text = render(result, source="terraform.tfstate")
    assert tomllib.loads(text) == result.values
    config = loaded(text, tmp_path)
    assert config.public_subnets == ("10.0.0.0/24", "10.0.1.0/24")
    assert config.sagemaker_role_name == "dev-sagemaker-execution-role"
    assert config.upload_csv is False  # the fixture has no data/training_data.csv
    assert "# s3://dev-sagemaker-a1b2c3d4/raw-data/training_data.csv stays in the bucket" in text


def test_per_zone_nat_and_bucket_settings_are_read_from_the_state() -> None:
    doc = per_zone_nat(load_state())
    sse = find(
        doc,
        "module.sagemaker_s3_bucket.aws_s3_bucket_server_side_encryption_configuration.this[0]",
    )
    sse["attributes"]["rule"][0]["apply_server_side_encryption_by_default"][0].update(
        sse_algorithm="aws:kms", kms_master_key_id="alias/training"
    )
    doc = with_resource(
        doc,
        "module.sagemaker_s3_bucket",
        "aws_s3_bucket_versioning",
        "this",
        {
            "id": "dev-sagemaker-a1b2c3d4",
            "bucket": "dev-sagemaker-a1b2c3d4",
            "versioning_configuration": [{"status": "Enabled", "mfa_delete": ""}],
        },
    )
    doc = with_resource(
        doc,
        "",
        "aws_iam_role_policy_attachment",
        "ecr",
        {
            "id": "x",
            "role": "dev-sagemaker-execution-role",
            "policy_arn": "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly",
        },
    )
    values = derived(doc).values
    assert values["vpc_redundancy"] is True
    assert values["kms_key_id"] == "alias/training"
    assert values["bucket_versioning"] is True
    assert values["managed_policy_arns"] == [
        "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly"
    ]


def test_a_retention_smprov_cannot_express_is_said_not_written() -> None:
    doc = load_state()
    find(doc, "module.vpc.aws_cloudwatch_log_group.flow_log[0]")["attributes"][
        "retention_in_days"
    ] = 0
    result = derived(doc)
    assert "flow_log_retention_days" not in result.values
    assert "Terraform kept flow logs forever" in result.notes["flow_log_retention_days"]


def test_tags_common_to_the_stack_are_the_modules_tags_and_keys_are_quoted(
    tmp_path: Path,
) -> None:
    doc = load_state()
    for resource in doc["resources"]:
        for instance in resource["instances"]:
            tags = instance["attributes"].get("tags")
            if isinstance(tags, dict):
                tags["cost center"] = "ml:42"
    result = derived(doc)
    assert result.values["tags"] == {
        "Environment": "dev",
        "ManagedBy": "terraform",
        "Project": "sagemaker-training",
        "cost center": "ml:42",
    }
    text = render(result, source="x")
    assert '"cost center" = "ml:42"' in text
    assert loaded(text, tmp_path).tags_dict()["cost center"] == "ml:42"


def test_an_existing_file_is_compared_on_what_it_builds(tmp_path: Path) -> None:
    result = derived(load_state())
    wanted = loaded(render(result, source="x"), tmp_path).with_zones((A, B))
    same = dict(result.values)
    assert differences(loaded(_toml(same), tmp_path).with_zones((A, B)), wanted, result) == []
    other = {**same, "tags": {"Team": "ml"}, "vpc_redundancy": True}
    del other["public_subnets"]
    del other["sagemaker_role_name"]
    found = differences(loaded(_toml(other), tmp_path).with_zones((A, B)), wanted, result)
    assert found == [
        "vpc_redundancy: smprov.toml gives True, Terraform has False",
        "sagemaker_role_name: smprov.toml gives dev_sagemaker_execution_role, Terraform has "
        "dev-sagemaker-execution-role",
        "tags: smprov.toml gives {Team = ml}, Terraform has {Environment = dev, ManagedBy = "
        "terraform, Project = sagemaker-training}",
        "public_subnets: smprov.toml gives [10.0.128.0/21, 10.0.136.0/21], Terraform has "
        "[10.0.0.0/24, 10.0.1.0/24]",
    ]


def _toml(values: dict[str, Any]) -> str:
    from provisioner.migrate.settings import Derived

    return render(Derived(values, {}), source="x")
