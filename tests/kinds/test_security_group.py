"""Security groups smprov creates: the training group (members to members, all egress) and the
endpoints' group (HTTPS from the VPC, no egress); rules reconciled exactly, drift revoked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from provisioner.engine.model import Action
from provisioner.kinds import REGISTRY
from tests.kinds.network_helpers import MiniStack, Sent, desired_for

TRAINING = "security_group.training"
ENDPOINTS = "security_group.vpc_endpoints"


def _group(stack: MiniStack, key: str) -> dict[str, Any]:
    [raw] = stack.ec2.describe_security_groups(GroupIds=[stack.id(key)])["SecurityGroups"]
    return raw


def test_training_group_lets_members_talk_and_nothing_else_in(moto: None, tmp_path: Path) -> None:
    stack = MiniStack.start()
    desired = desired_for(tmp_path, [TRAINING])
    stack.up(desired)

    raw = _group(stack, TRAINING)
    group_id = stack.id(TRAINING)
    assert raw["GroupName"] == "dev-sagemaker-training"
    assert [
        (p["IpProtocol"], [g["GroupId"] for g in p["UserIdGroupPairs"]], p["IpRanges"])
        for p in raw["IpPermissions"]
    ] == [("-1", [group_id], [])]
    assert [
        (p["IpProtocol"], [r["CidrIp"] for r in p["IpRanges"]]) for p in raw["IpPermissionsEgress"]
    ] == [("-1", ["0.0.0.0/0"])]
    assert {t["Key"]: t["Value"] for t in raw["Tags"]}["Name"] == "dev-sagemaker-training"

    stack.log.clear()
    assert stack.up(desired).is_empty
    assert stack.log.mutating == []


def test_create_sends_only_what_differs_from_a_new_group(moto: None, tmp_path: Path) -> None:
    stack = MiniStack.start()
    stack.up(desired_for(tmp_path, [TRAINING]))
    sg_writes = [op for op in stack.log.mutating if "Security" in op]
    # AWS gives a new group the allow-all egress the spec wants: only the ingress is added.
    assert sg_writes == ["CreateSecurityGroup", "AuthorizeSecurityGroupIngress"]


def test_endpoint_group_allows_https_from_the_vpc_only(moto: None, tmp_path: Path) -> None:
    stack = MiniStack.start()
    stack.up(desired_for(tmp_path, [ENDPOINTS]))

    raw = _group(stack, ENDPOINTS)
    [perm] = raw["IpPermissions"]
    assert (perm["IpProtocol"], perm["FromPort"], perm["ToPort"]) == ("tcp", 443, 443)
    assert perm["IpRanges"] == [{"CidrIp": "10.0.0.0/16", "Description": "HTTPS from the VPC"}]
    assert raw["IpPermissionsEgress"] == []  # AWS's default egress rule was revoked


def test_a_rule_added_out_of_band_is_drift_and_revoked(moto: None, tmp_path: Path) -> None:
    stack = MiniStack.start()
    desired = desired_for(tmp_path, [TRAINING])
    stack.up(desired)
    group_id = stack.id(TRAINING)
    ssh = {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
    stack.ec2.authorize_security_group_ingress(GroupId=group_id, IpPermissions=[ssh])

    plan = stack.plan(desired)
    step = plan.step_by_key[TRAINING]
    assert step.action is Action.UPDATE
    assert [c.path for c in step.changes] == ["ingress"]

    stack.log.clear()
    revoked = Sent()
    stack.clients.add_hook("before-parameter-build.ec2.RevokeSecurityGroupIngress", revoked.hook)
    stack.up(desired)

    assert [op for op in stack.log.mutating] == ["RevokeSecurityGroupIngress"]
    assert revoked.calls == [{"GroupId": group_id, "IpPermissions": [ssh]}]
    assert [p["IpProtocol"] for p in _group(stack, TRAINING)["IpPermissions"]] == ["-1"]
    assert stack.up(desired).is_empty


def test_a_changed_rule_description_is_updated_in_place(moto: None, tmp_path: Path) -> None:
    stack = MiniStack.start()
    desired = desired_for(tmp_path, [ENDPOINTS])
    stack.up(desired)
    kind = REGISTRY["security_group"]
    live = stack.plan(desired).step_by_key[ENDPOINTS].live
    assert live is not None
    [rule] = live.get("ingress")
    spec = {**live.attrs, "ingress": [{**rule, "description": "HTTPS to the endpoints"}]}

    stack.log.clear()
    kind.update(stack.ctx(), live, spec, kind.diff(live, spec))

    assert stack.log.mutating == ["UpdateSecurityGroupRuleDescriptionsIngress"]


def test_deleted_with_the_stack(moto: None, tmp_path: Path) -> None:
    stack = MiniStack.start()
    desired = desired_for(tmp_path, [TRAINING, ENDPOINTS])
    stack.up(desired)
    ids = [stack.id(TRAINING), stack.id(ENDPOINTS)]

    stack.log.clear()
    stack.down(desired)

    assert stack.log.count("DeleteSecurityGroup") == 2
    ops = stack.log.mutating
    assert max(i for i, op in enumerate(ops) if op == "DeleteSecurityGroup") < ops.index(
        "DeleteVpc"
    )
    left = stack.ec2.describe_security_groups(Filters=[{"Name": "group-id", "Values": ids}])
    assert left["SecurityGroups"] == []


def test_tags_change_in_place(moto: None, tmp_path: Path) -> None:
    stack = MiniStack.start()
    stack.up(desired_for(tmp_path, [TRAINING], '[tags]\nteam = "ml"\n'))
    group_id = stack.id(TRAINING)

    stack.up(desired_for(tmp_path, [TRAINING]))

    assert stack.id(TRAINING) == group_id
    tags = {t["Key"]: t["Value"] for t in _group(stack, TRAINING)["Tags"]}
    assert "team" not in tags and tags["Name"] == "dev-sagemaker-training"
