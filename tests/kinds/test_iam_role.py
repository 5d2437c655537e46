"""The iam_role kind against moto: create, read back, semantic diff, drift repair, delete."""

from __future__ import annotations

import json
import urllib.parse
from typing import Any

import pytest

from provisioner.aws.retry import FAST
from provisioner.engine.contract import Ctx, ReadItem
from provisioner.errors import AwsError, ConfigError
from provisioner.kinds.iam_role import IamRole
from tests.harness import Harness

TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "sagemaker.amazonaws.com"},
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"aws:SourceAccount": "123456789012"}},
        }
    ],
}
POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {"Sid": "List", "Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::b"},
        {
            "Sid": "Objects",
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:PutObject"],
            "Resource": "arn:aws:s3:::b/*",
        },
    ],
}


@pytest.fixture
def ctx(harness: Harness) -> Ctx:
    return Ctx(
        clients=harness.clients,
        stack="dev",
        region="us-east-1",
        account="123456789012",
        parallelism=1,
        timing=FAST,
    )


@pytest.fixture
def managed_arn(harness: Harness) -> str:
    iam = harness.clients("iam")
    doc = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*"}]}
    doc["Statement"][0]["Resource"] = "*"
    return iam.create_policy(PolicyName="extra", PolicyDocument=json.dumps(doc))["Policy"]["Arn"]


def role_spec(**overrides: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "name": "dev_test_role",
        "path": "/",
        "description": "test role",
        "assume_role_policy": TRUST,
        "inline_policies": {"access": POLICY},
        "managed_policy_arns": [],
        "max_session_duration": 3600,
        "tags": {"smprov:stack": "dev", "smprov:key": "iam_role.test"},
    }
    spec.update(overrides)
    return spec


def read(ctx: Ctx, spec: dict[str, Any], recorded: str | None = None) -> Any:
    items = [ReadItem("iam_role.test", recorded, spec)]
    return IamRole().read(ctx, items, lambda v: v).get("iam_role.test")


def test_create_reads_back_equal_with_no_spurious_diff(
    harness: Harness, ctx: Ctx, managed_arn: str
) -> None:
    spec = role_spec(managed_policy_arns=[managed_arn])
    created = IamRole().create(ctx, "iam_role.test", spec, "token")
    assert created.get("arn") == "arn:aws:iam::123456789012:role/dev_test_role"
    live = read(ctx, spec)
    assert live is not None
    assert live.get("managed_policy_arns") == [managed_arn]
    assert set(live.get("inline_policies")) == {"access"}
    assert live.get("tags")["smprov:key"] == "iam_role.test"
    assert IamRole().diff(live, spec) == []
    assert live.get("name") == "dev_test_role"


def test_reordered_or_encoded_policies_are_equal(ctx: Ctx) -> None:
    IamRole().create(ctx, "iam_role.test", role_spec(), "token")
    live = read(ctx, role_spec())
    reordered = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "Objects",
                "Effect": "Allow",
                "Action": ["s3:PutObject", "s3:GetObject"],
                "Resource": ["arn:aws:s3:::b/*"],
            },
            {
                "Sid": "List",
                "Effect": "Allow",
                "Action": ["s3:ListBucket"],
                "Resource": "arn:aws:s3:::b",
            },
        ],
    }
    assert IamRole().diff(live, role_spec(inline_policies={"access": reordered})) == []
    encoded = urllib.parse.quote(json.dumps(TRUST))
    from provisioner.engine.model import Live

    as_string = Live(live.id, {**live.attrs, "assume_role_policy": encoded})
    assert IamRole().diff(as_string, role_spec()) == []
    changed = role_spec(
        inline_policies={"access": {**POLICY, "Statement": POLICY["Statement"][:1]}}
    )
    assert [c.path for c in IamRole().diff(live, changed)] == ["inline_policies"]


def test_drift_is_repaired(harness: Harness, ctx: Ctx, managed_arn: str) -> None:
    spec = role_spec()
    IamRole().create(ctx, "iam_role.test", spec, "token")
    iam = harness.clients("iam")
    widened = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
    }
    iam.put_role_policy(
        RoleName="dev_test_role", PolicyName="access", PolicyDocument=json.dumps(widened)
    )
    iam.put_role_policy(
        RoleName="dev_test_role", PolicyName="sneaky", PolicyDocument=json.dumps(widened)
    )
    iam.attach_role_policy(RoleName="dev_test_role", PolicyArn=managed_arn)
    iam.update_assume_role_policy(
        RoleName="dev_test_role",
        PolicyDocument=json.dumps(
            {**TRUST, "Statement": [{**TRUST["Statement"][0], "Condition": {}}]}
        ),
    )
    iam.tag_role(RoleName="dev_test_role", Tags=[{"Key": "owner", "Value": "someone"}])
    live = read(ctx, spec, recorded="dev_test_role")
    changes = IamRole().diff(live, spec)
    assert {c.path for c in changes} == {
        "inline_policies",
        "managed_policy_arns",
        "assume_role_policy",
        "tags",
    }
    IamRole().update(ctx, live, spec, changes)
    repaired = read(ctx, spec, recorded="dev_test_role")
    assert IamRole().diff(repaired, spec) == []
    assert set(repaired.get("inline_policies")) == {"access"}
    assert repaired.get("managed_policy_arns") == []
    assert "owner" not in repaired.get("tags")


def test_description_and_session_update(ctx: Ctx) -> None:
    IamRole().create(ctx, "iam_role.test", role_spec(), "token")
    spec = role_spec(description="new words", max_session_duration=7200)
    live = read(ctx, spec)
    changes = IamRole().diff(live, spec)
    assert {c.path for c in changes} == {"description", "max_session_duration"}
    IamRole().update(ctx, live, spec, changes)
    again = read(ctx, spec)
    assert again.get("description") == "new words"
    assert again.get("max_session_duration") == 7200


def test_oversized_policies_fail_before_any_call(harness: Harness, ctx: Ctx) -> None:
    big = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "s3:GetObject",
                "Resource": [f"arn:aws:s3:::bucket/{i:05d}/*" for i in range(400)],
            }
        ],
    }
    harness.log.clear()
    with pytest.raises(ConfigError, match="10240"):
        IamRole().create(ctx, "iam_role.test", role_spec(inline_policies={"big": big}), "t")
    assert harness.log.calls == []


def test_unowned_role_is_not_adopted(harness: Harness, ctx: Ctx) -> None:
    harness.clients("iam").create_role(
        RoleName="dev_test_role", AssumeRolePolicyDocument=json.dumps(TRUST)
    )
    assert read(ctx, role_spec()) is None
    with pytest.raises(AwsError, match="already exists and is not part of stack dev"):
        IamRole().create(ctx, "iam_role.test", role_spec(), "token")


def test_delete_detaches_everything_and_tolerates_gone(
    harness: Harness, ctx: Ctx, managed_arn: str
) -> None:
    spec = role_spec(managed_policy_arns=[managed_arn])
    live = IamRole().create(ctx, "iam_role.test", spec, "token")
    iam = harness.clients("iam")
    iam.create_instance_profile(InstanceProfileName="profile")
    iam.add_role_to_instance_profile(InstanceProfileName="profile", RoleName="dev_test_role")
    assert IamRole().delete(ctx, live) is None
    assert read(ctx, spec, recorded="dev_test_role") is None
    assert iam.list_policies(Scope="Local")["Policies"][0]["AttachmentCount"] == 0
    assert IamRole().delete(ctx, live) is None


def test_a_renamed_role_plans_as_a_replacement(ctx: Ctx) -> None:
    IamRole().create(ctx, "iam_role.test", role_spec(), "token")
    renamed = role_spec(name="dev_other_role")
    live = read(ctx, renamed, recorded="dev_test_role")
    assert live is not None and live.id == "dev_test_role"
    (change,) = [c for c in IamRole().diff(live, renamed) if c.path == "name"]
    assert change.forces_replace
