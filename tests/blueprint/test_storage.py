"""The storage blueprint, pure: bucket naming and its generated suffix, objects, the role's
policies (least privilege), the public-access notice, and suffix recovery after a lost state."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from provisioner import blueprint, keys
from provisioner.config import SAMPLE_CSV, StackConfig, parse_config
from provisioner.engine.model import Desired, Live, Ref
from provisioner.kinds.s3_object import file_digests

ACCOUNT = "123456789012"
ZONES = ["us-east-1a", "us-east-1b"]


def config(tmp_path: Path, **values: Any) -> StackConfig:
    data = {"environment": "dev", "region": "us-east-1", **values}
    return parse_config(data, base_dir=tmp_path, source="test").resolve(ZONES)


def build(cfg: StackConfig, data: dict[str, str] | None = None) -> dict[str, Desired]:
    return {d.key: d for d in blueprint.build(cfg, account=ACCOUNT, data=data)}


def test_bucket_suffix_is_generated_once_and_kept(tmp_path: Path) -> None:
    data: dict[str, str] = {}
    first = build(config(tmp_path), data)[keys.BUCKET].spec["name"]
    suffix = data["bucket_suffix"]
    assert first == f"dev-sagemaker-{suffix}"
    assert len(suffix) == 8 and suffix.isalnum() and suffix == suffix.lower()
    assert build(config(tmp_path), data)[keys.BUCKET].spec["name"] == first
    assert build(config(tmp_path), {})[keys.BUCKET].spec["name"] != first  # random


def test_explicit_bucket_name_overrides(tmp_path: Path) -> None:
    data: dict[str, str] = {}
    spec = build(config(tmp_path, bucket_name="my-training-data"), data)[keys.BUCKET].spec
    assert spec["name"] == "my-training-data"
    assert blueprint.lost_data(config(tmp_path, bucket_name="my-training-data"), {}) == []
    assert data == {}


def test_bucket_defaults(tmp_path: Path) -> None:
    spec = build(config(tmp_path))[keys.BUCKET].spec
    assert spec["encryption"] == {
        "sse_algorithm": "AES256",
        "kms_key_id": None,
        "bucket_key_enabled": False,
    }
    assert spec["versioning"] is True
    assert all(spec["public_access_block"].values())
    assert spec["object_ownership"] == "ObjectWriter"
    assert spec["tags"]["smprov:key"] == keys.BUCKET


def test_folders_and_csv_objects(tmp_path: Path) -> None:
    desired = build(config(tmp_path))
    markers = [d.spec["key"] for d in desired.values() if d.key.startswith("s3_object.folder.")]
    assert markers == ["raw-data/", "processed-data/", "model-artifacts/"]
    csv = desired[keys.CSV_OBJECT].spec
    sha, md5, _size = file_digests(SAMPLE_CSV)
    assert csv["key"] == "raw-data/sample.csv"
    assert (csv["sha256"], csv["md5"]) == (sha, md5)
    assert csv["bucket"] == Ref(keys.BUCKET, "name")
    # The policy waits for nothing but the bucket and the role: AWS applies it to object calls
    # as written (the emulator's moto evaluated it wrongly; provisioner.emulator_fidelity).
    assert desired[keys.BUCKET_POLICY].depends_on == {keys.BUCKET, keys.SAGEMAKER_ROLE}


def test_folder_keys_stay_unique() -> None:
    folders = keys.folder_keys(("a.b/", "a_b/", "x/y/"))
    assert folders["x/y/"] == "s3_object.folder.x/y"
    assert len(set(folders.values())) == 3


def test_role_trust_and_least_privilege(tmp_path: Path) -> None:
    desired = build(config(tmp_path, managed_policy_arns=["arn:aws:iam::aws:policy/ReadOnly"]))
    role = desired[keys.SAGEMAKER_ROLE].spec
    bucket = desired[keys.BUCKET].spec["name"]
    assert role["name"] == "dev_sagemaker_execution_role"
    (trust,) = role["assume_role_policy"]["Statement"]
    assert trust["Principal"] == {"Service": "sagemaker.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT}}
    assert role["managed_policy_arns"] == ("arn:aws:iam::aws:policy/ReadOnly",)
    statements = {s["Sid"]: s for s in role["inline_policies"]["sagemaker-training"]["Statement"]}
    assert statements["ListBucket"]["Resource"] == f"arn:aws:s3:::{bucket}"
    assert statements["BucketObjects"]["Resource"] == f"arn:aws:s3:::{bucket}/*"
    assert statements["TrainingLogs"]["Resource"].endswith(":log-group:/aws/sagemaker/*")
    vpc_arn = statements["CreateEniInStackVpc"]["Condition"]["ArnEquals"]["ec2:Vpc"]
    assert vpc_arn == Ref("vpc", template=f"arn:aws:ec2:us-east-1:{ACCOUNT}:vpc/{{}}")
    # "*" only where IAM offers nothing narrower, and then with a condition where one exists.
    wildcard = {sid for sid, s in statements.items() if s["Resource"] == "*"}
    assert wildcard == {"TrainingMetrics", "EcrLogin", "ManageTrainingEnis", "DescribeNetwork"}
    assert "BucketKmsKey" not in statements


@pytest.mark.parametrize(
    ("key", "resource", "condition"),
    [
        (
            "1234abcd-12ab-34cd-56ef-1234567890ab",
            f"arn:aws:kms:us-east-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            None,
        ),
        (
            "alias/training",
            f"arn:aws:kms:us-east-1:{ACCOUNT}:key/*",
            {"ForAnyValue:StringEquals": {"kms:ResourceAliases": "alias/training"}},
        ),
        (
            "arn:aws:kms:us-east-1:210987654321:alias/shared",
            "arn:aws:kms:us-east-1:210987654321:key/*",
            {"ForAnyValue:StringEquals": {"kms:ResourceAliases": "alias/shared"}},
        ),
    ],
)
def test_kms_key_grants(
    tmp_path: Path, key: str, resource: str, condition: dict[str, Any] | None
) -> None:
    desired = build(config(tmp_path, kms_key_id=key))
    assert desired[keys.BUCKET].spec["encryption"]["sse_algorithm"] == "aws:kms"
    policy = desired[keys.SAGEMAKER_ROLE].spec["inline_policies"]["sagemaker-training"]
    (kms,) = [s for s in policy["Statement"] if s["Sid"] == "BucketKmsKey"]
    assert kms["Resource"] == resource
    # Encrypt: CreateTrainingJob requires it once OutputDataConfig names the key.
    assert kms["Action"] == ["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey"]
    assert kms.get("Condition") == condition


def test_bucket_policy_denies_plain_http_and_grants_the_role(tmp_path: Path) -> None:
    desired = build(config(tmp_path))
    bucket = desired[keys.BUCKET].spec["name"]
    policy = desired[keys.BUCKET_POLICY].spec["policy"]
    deny, list_, objects = policy["Statement"]
    assert deny["Effect"] == "Deny"
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert deny["Resource"] == [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]
    assert list_["Principal"] == {"AWS": Ref(keys.SAGEMAKER_ROLE, "arn")} == objects["Principal"]
    assert keys.SAGEMAKER_ROLE in desired[keys.BUCKET_POLICY].depends_on


def test_public_access_notice(tmp_path: Path) -> None:
    assert blueprint.notices(config(tmp_path)) == []
    loose = config(tmp_path, public_access_block={"block_public_policy": False})
    (notice,) = blueprint.notices(loose)
    assert notice.key == keys.BUCKET
    assert "block_public_policy = false" in notice.message
    assert "public" in notice.message


def test_a_missing_suffix_is_looked_up_by_the_name_prefix(tmp_path: Path) -> None:
    assert blueprint.lost_data(config(tmp_path), {}) == [
        blueprint.Lookup(keys.BUCKET, "bucket", "dev-sagemaker-")
    ]
    assert blueprint.lost_data(config(tmp_path), {"bucket_suffix": "abcd1234"}) == []


def test_make_builds_once_into_a_frozen_blueprint_and_leaves_the_data_alone(
    tmp_path: Path,
) -> None:
    data: dict[str, str] = {}
    cfg = config(tmp_path)
    made = blueprint.make(cfg, account="123456789012", partition="aws", data=data)
    assert data == {}
    assert set(made.data) == {"bucket_suffix"}
    assert isinstance(made.desired, tuple)
    with pytest.raises(TypeError):
        made.data["bucket_suffix"] = "changed"  # type: ignore[index]
    again = blueprint.make(cfg, account="123456789012", partition="aws", data=made.data)
    assert again == made
    assert made.generated == {"bucket_suffix"} and again.generated == frozenset()


def test_adopt_data_recovers_the_suffix_of_a_found_bucket() -> None:
    data = {"bucket_suffix": "fresh000"}
    found = {keys.BUCKET: Live("dev-sagemaker-old12345", {})}
    assert blueprint.adopt_data(found, data) is True
    assert data == {"bucket_suffix": "old12345"}
    assert blueprint.adopt_data(found, data) is False
    assert blueprint.adopt_data({}, data) is False
    assert blueprint.adopt_data({keys.BUCKET: Live("my-own-name", {})}, data) is False


def test_role_policy_fits_iam_quota(tmp_path: Path) -> None:
    policy = build(config(tmp_path, kms_key_id="alias/training"))[keys.SAGEMAKER_ROLE].spec[
        "inline_policies"
    ]
    text = json.dumps(policy, separators=(",", ":"), default=str)
    assert len(text) < 10_240


def test_the_roles_names_and_the_csv_follow_the_settings(tmp_path: Path) -> None:
    """An imported Terraform stack keeps its roles' names; without a CSV there is no object."""
    from provisioner import keys
    from provisioner.blueprint import build

    config = parse_config(
        {
            "region": "us-east-1",
            "sagemaker_role_name": "dev-sagemaker-execution-role",
            "flow_log_role_name": "vpc-flow-log-role-2026",
            "upload_csv": False,
        },
        base_dir=tmp_path,
        source="t",
    ).resolve(["us-east-1a", "us-east-1b"])
    desired = {d.key: d for d in build(config, account="123456789012")}
    assert desired[keys.SAGEMAKER_ROLE].spec["name"] == "dev-sagemaker-execution-role"
    assert desired[keys.FLOW_LOG_ROLE].spec["name"] == "vpc-flow-log-role-2026"
    assert keys.CSV_OBJECT not in desired
    assert keys.CSV_OBJECT not in desired[keys.BUCKET_POLICY].extra_deps
