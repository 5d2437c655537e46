"""The RDS DB subnet group: created over the database subnets, converged, changed in place with
ModifyDBSubnetGroup, deleted."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from provisioner.engine.model import Action
from tests.kinds.network_helpers import MiniStack, Sent, desired_for

KEY = "db_subnet_group"


def _group(stack: MiniStack) -> dict[str, Any]:
    [group] = stack.clients("rds").describe_db_subnet_groups(DBSubnetGroupName="dev")[
        "DBSubnetGroups"
    ]
    return group


def _tags(stack: MiniStack) -> dict[str, str]:
    arn = _group(stack)["DBSubnetGroupArn"]
    tags = stack.clients("rds").list_tags_for_resource(ResourceName=arn)["TagList"]
    return {t["Key"]: t["Value"] for t in tags}


def test_created_over_the_database_subnets_then_converged(moto: None, tmp_path: Path) -> None:
    stack = MiniStack.start()
    desired = desired_for(tmp_path, [KEY])
    stack.up(desired)

    group = _group(stack)
    assert group["DBSubnetGroupDescription"] == "Database subnet group for dev"
    assert sorted(s["SubnetIdentifier"] for s in group["Subnets"]) == sorted(
        stack.id(f"subnet.database.{zone}") for zone in ("us-east-1a", "us-east-1b")
    )
    assert _tags(stack) == {"Name": "dev", "smprov:stack": "dev", "smprov:key": KEY}

    stack.log.clear()
    assert stack.up(desired).is_empty
    assert stack.log.mutating == []
    assert stack.log.count("DescribeDBSubnetGroups") == 1


def test_new_subnets_are_set_with_modify(moto: None, tmp_path: Path) -> None:
    stack = MiniStack.start()
    stack.up(desired_for(tmp_path, [KEY]))
    sent = Sent()
    stack.clients.add_hook("before-parameter-build.rds.ModifyDBSubnetGroup", sent.hook)

    stack.log.clear()
    plan = stack.up(desired_for(tmp_path, [KEY], "availability_zones = 3\n"))

    step = plan.step_by_key[KEY]
    assert step.action is Action.UPDATE
    assert [c.path for c in step.changes] == ["subnet_ids"]
    [call] = sent.calls
    assert call["DBSubnetGroupName"] == "dev"
    assert sorted(call["SubnetIds"]) == sorted(
        stack.id(f"subnet.database.{zone}") for zone in ("us-east-1a", "us-east-1b", "us-east-1c")
    )
    rds_writes = [op for svc, op in stack.log.calls if svc == "rds" and op in stack.log.mutating]
    assert rds_writes == ["ModifyDBSubnetGroup"]
    assert stack.log.count("DescribeDBSubnetGroups") == 1  # the refresh's: none after the modify
    assert len(stack.state.attrs[KEY]["subnet_ids"]) == 3
    assert len(_group(stack)["Subnets"]) == 3


def test_tags_change_without_modify(moto: None, tmp_path: Path) -> None:
    stack = MiniStack.start()
    stack.up(desired_for(tmp_path, [KEY], '[tags]\nteam = "ml"\n'))

    stack.log.clear()
    stack.up(desired_for(tmp_path, [KEY], '[tags]\nteam = "data"\nowner = "me"\n'))

    rds_writes = [op for svc, op in stack.log.calls if svc == "rds" and op in stack.log.mutating]
    assert rds_writes == ["AddTagsToResource"]
    assert _tags(stack)["team"] == "data" and _tags(stack)["owner"] == "me"

    stack.log.clear()
    stack.up(desired_for(tmp_path, [KEY]))
    rds_writes = [op for svc, op in stack.log.calls if svc == "rds" and op in stack.log.mutating]
    assert rds_writes == ["RemoveTagsFromResource"]
    assert "team" not in _tags(stack)


def test_deleted_before_its_subnets(moto: None, tmp_path: Path) -> None:
    stack = MiniStack.start()
    desired = desired_for(tmp_path, [KEY])
    stack.up(desired)

    stack.log.clear()
    stack.down(desired)

    ops = stack.log.mutating
    assert ops.index("DeleteDBSubnetGroup") < ops.index("DeleteSubnet")
    assert stack.clients("rds").describe_db_subnet_groups()["DBSubnetGroups"] == []
    assert stack.state.resources == {}


def test_a_group_of_that_name_that_is_not_the_stacks_is_never_adopted(
    moto: None, tmp_path: Path
) -> None:
    """RDS keys groups by name: someone's own group named like the stack's is not taken over
    (it carries no smprov:stack tag)."""
    stack = MiniStack.start()
    ec2 = stack.ec2
    vpc = ec2.create_vpc(CidrBlock="10.50.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.50.{n}.0/24", AvailabilityZone=zone)["Subnet"][
            "SubnetId"
        ]
        for n, zone in enumerate(("us-east-1a", "us-east-1b"))
    ]
    stack.clients("rds").create_db_subnet_group(
        DBSubnetGroupName="dev", DBSubnetGroupDescription="theirs", SubnetIds=subnets
    )
    desired = desired_for(tmp_path, [KEY])
    assert stack.plan(desired).step_by_key[KEY].action is Action.CREATE
    _plan, report = stack.run(desired)
    [(node, result)] = report.failed
    assert node[0] == KEY
    assert "a DB subnet group named dev already exists and is not part of stack dev" in (
        result.message
    )
    [theirs] = stack.clients("rds").describe_db_subnet_groups(DBSubnetGroupName="dev")[
        "DBSubnetGroups"
    ]
    assert theirs["DBSubnetGroupDescription"] == "theirs"  # untouched
