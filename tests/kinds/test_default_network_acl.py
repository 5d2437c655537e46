"""The VPC's default network ACL: adopted and tagged, holding exactly AWS's allow-all entries
(plus the fixed catch-all deny); entries added or changed out of band are put back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from provisioner.engine.model import Action
from tests.kinds.network_helpers import MiniStack, desired_for

KEY = "default_network_acl"


def _entries(stack: MiniStack) -> list[tuple[bool, int, str, str]]:
    [acl] = stack.ec2.describe_network_acls(NetworkAclIds=[stack.id(KEY)])["NetworkAcls"]
    return sorted(
        (e["Egress"], e["RuleNumber"], e["RuleAction"], e["Protocol"]) for e in acl["Entries"]
    )


AWS_DEFAULT = [
    (False, 100, "allow", "-1"),
    (False, 32767, "deny", "-1"),
    (True, 100, "allow", "-1"),
    (True, 32767, "deny", "-1"),
]


def test_adopted_as_aws_made_it_only_tagged(moto: None, tmp_path: Path) -> None:
    stack = MiniStack.start()
    desired = desired_for(tmp_path, [KEY])
    stack.up(desired)

    assert _entries(stack) == AWS_DEFAULT
    acl_writes = [op for op in stack.log.mutating if "NetworkAcl" in op]
    assert acl_writes == []
    [acl] = stack.ec2.describe_network_acls(NetworkAclIds=[stack.id(KEY)])["NetworkAcls"]
    assert acl["IsDefault"] is True
    assert {t["Key"]: t["Value"] for t in acl["Tags"]} == {"Name": "dev-default", "smprov:key": KEY}

    stack.log.clear()
    assert stack.up(desired).is_empty
    assert stack.log.mutating == []


def test_entries_added_or_changed_out_of_band_are_put_back(moto: None, tmp_path: Path) -> None:
    stack = MiniStack.start()
    desired = desired_for(tmp_path, [KEY])
    stack.up(desired)
    acl_id = stack.id(KEY)
    ssh: dict[str, Any] = {"From": 22, "To": 22}
    stack.ec2.create_network_acl_entry(
        NetworkAclId=acl_id,
        RuleNumber=50,
        Protocol="6",
        RuleAction="deny",
        Egress=False,
        CidrBlock="0.0.0.0/0",
        PortRange=ssh,
    )
    stack.ec2.replace_network_acl_entry(
        NetworkAclId=acl_id,
        RuleNumber=100,
        Protocol="-1",
        RuleAction="deny",
        Egress=True,
        CidrBlock="0.0.0.0/0",
    )

    step = stack.plan(desired).step_by_key[KEY]
    assert step.action is Action.UPDATE
    assert sorted(c.path for c in step.changes) == ["egress", "ingress"]

    stack.log.clear()
    stack.up(desired)

    assert sorted(stack.log.mutating) == ["DeleteNetworkAclEntry", "ReplaceNetworkAclEntry"]
    assert _entries(stack) == AWS_DEFAULT
    assert stack.up(desired).is_empty


def test_down_forgets_it_without_a_call(moto: None, tmp_path: Path) -> None:
    stack = MiniStack.start()
    desired = desired_for(tmp_path, [KEY])
    stack.up(desired)

    stack.log.clear()
    stack.down(desired)

    assert [op for op in stack.log.mutating if "NetworkAcl" in op] == []
    assert stack.state.resources == {}
