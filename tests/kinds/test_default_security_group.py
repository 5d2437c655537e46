"""The VPC's default security group: adopted, tagged <env>-default, stripped of every rule;
a rule added later is drift that `up` removes; `down` only forgets it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from provisioner.engine.model import Action
from tests.kinds.network_helpers import MiniStack, Sent, desired_for

KEY = "default_security_group"


def _default(stack: MiniStack, vpc_id: str) -> dict[str, Any]:
    [raw] = stack.ec2.describe_security_groups(
        Filters=[
            {"Name": "vpc-id", "Values": [vpc_id]},
            {"Name": "group-name", "Values": ["default"]},
        ]
    )["SecurityGroups"]
    return raw


def test_adopted_tagged_and_stripped_then_converged(moto: None, tmp_path: Path) -> None:
    stack = MiniStack.start()
    desired = desired_for(tmp_path, [KEY])
    revoked = Sent()
    stack.clients.add_hook("before-parameter-build.ec2.RevokeSecurityGroupIngress", revoked.hook)

    stack.up(desired)

    raw = _default(stack, stack.id("vpc"))
    assert stack.id(KEY) == raw["GroupId"]
    assert raw["IpPermissions"] == [] and raw["IpPermissionsEgress"] == []
    tags = {t["Key"]: t["Value"] for t in raw["Tags"]}
    assert tags == {"Name": "dev-default", "smprov:key": KEY}
    # moto's default group has no ingress rule: nothing to revoke, so no call.
    assert revoked.calls == []
    assert stack.log.count("RevokeSecurityGroupEgress") == 1

    stack.log.clear()
    assert stack.up(desired).is_empty
    assert stack.log.mutating == []


def test_aws_self_referencing_rule_is_revoked_too(moto: None, tmp_path: Path) -> None:
    stack = MiniStack.start()
    desired = desired_for(tmp_path, [KEY])
    stack.up([d for d in desired if d.key != KEY])
    group_id = _default(stack, stack.id("vpc"))["GroupId"]
    # What AWS's default group has and moto's lacks: all traffic from its own members.
    self_rule = {"IpProtocol": "-1", "UserIdGroupPairs": [{"GroupId": group_id}]}
    stack.ec2.authorize_security_group_ingress(GroupId=group_id, IpPermissions=[self_rule])
    revoked = Sent()
    stack.clients.add_hook("before-parameter-build.ec2.RevokeSecurityGroupIngress", revoked.hook)

    stack.up(desired)

    assert revoked.calls == [{"GroupId": group_id, "IpPermissions": [self_rule]}]
    assert _default(stack, stack.id("vpc"))["IpPermissions"] == []


def test_a_rule_added_later_is_planned_for_removal_and_removed(moto: None, tmp_path: Path) -> None:
    stack = MiniStack.start()
    desired = desired_for(tmp_path, [KEY])
    stack.up(desired)
    group_id = stack.id(KEY)
    https = {
        "IpProtocol": "tcp",
        "FromPort": 443,
        "ToPort": 443,
        "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
    }
    stack.ec2.authorize_security_group_ingress(GroupId=group_id, IpPermissions=[https])

    step = stack.plan(desired).step_by_key[KEY]
    assert step.action is Action.UPDATE
    [change] = step.changes
    assert change.path == "ingress" and change.new == []
    assert change.old == [
        {
            "protocol": "tcp",
            "from_port": 443,
            "to_port": 443,
            "peer": "0.0.0.0/0",
            "description": "",
        }
    ]

    stack.log.clear()
    stack.up(desired)

    assert stack.log.mutating == ["RevokeSecurityGroupIngress"]
    assert _default(stack, stack.id("vpc"))["IpPermissions"] == []
    assert stack.up(desired).is_empty


def test_down_forgets_it_without_a_call(moto: None, tmp_path: Path) -> None:
    stack = MiniStack.start()
    desired = desired_for(tmp_path, [KEY])
    stack.up(desired)

    plan = stack.plan(desired, destroy=True)
    assert plan.step_by_key[KEY].action is Action.DELETE
    stack.log.clear()
    stack.down(desired)

    assert "DeleteSecurityGroup" not in stack.log.mutating
    assert "DeleteVpc" in stack.log.mutating  # the VPC takes it along
    assert stack.state.resources == {}
