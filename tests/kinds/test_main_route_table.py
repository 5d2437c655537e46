"""The VPC's main route table: adopted and tagged, no route but the local one; a route added
out of band is drift that `up` deletes."""

from __future__ import annotations

from pathlib import Path

from provisioner.engine.model import Action
from tests.kinds.network_helpers import MiniStack, desired_for

KEY = "main_route_table"


def _routes(stack: MiniStack) -> list[str]:
    [table] = stack.ec2.describe_route_tables(RouteTableIds=[stack.id(KEY)])["RouteTables"]
    return sorted(r.get("GatewayId", "") for r in table["Routes"])


def test_adopted_tagged_and_converged(moto: None, tmp_path: Path) -> None:
    stack = MiniStack.start()
    desired = desired_for(tmp_path, [KEY])
    stack.up(desired)

    [table] = stack.ec2.describe_route_tables(RouteTableIds=[stack.id(KEY)])["RouteTables"]
    assert any(a.get("Main") for a in table["Associations"])
    assert {t["Key"]: t["Value"] for t in table["Tags"]} == {
        "Name": "dev-default",
        "smprov:key": KEY,
    }
    assert _routes(stack) == ["local"]
    assert [op for op in stack.log.mutating if "Route" in op] == []

    stack.log.clear()
    assert stack.up(desired).is_empty
    assert stack.log.mutating == []


def test_a_route_added_later_is_deleted(moto: None, tmp_path: Path) -> None:
    stack = MiniStack.start()
    desired = desired_for(tmp_path, [KEY])
    stack.up(desired)
    igw = stack.ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    stack.ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=stack.id("vpc"))
    stack.ec2.create_route(
        RouteTableId=stack.id(KEY), DestinationCidrBlock="0.0.0.0/0", GatewayId=igw
    )

    step = stack.plan(desired).step_by_key[KEY]
    assert step.action is Action.UPDATE
    [change] = step.changes
    assert (change.path, change.old, change.new) == (
        "routes",
        [{"destination": "0.0.0.0/0", "target": igw}],
        [],
    )

    stack.log.clear()
    stack.up(desired)

    assert stack.log.mutating == ["DeleteRoute"]
    assert _routes(stack) == ["local"]
    assert stack.up(desired).is_empty
