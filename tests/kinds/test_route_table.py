"""Route table deletes: associations are their own kind's; a table found by tag may have some."""

from __future__ import annotations

from typing import Any

from provisioner.aws.clients import Clients
from provisioner.aws.retry import FAST
from provisioner.engine.contract import Ctx
from provisioner.kinds.route_table import RouteTable
from tests.harness import CallLog

REGION = "us-east-1"


def _setup(moto: None) -> tuple[Ctx, CallLog, Any, str, str]:
    clients = Clients(REGION, max_attempts=1)
    log = CallLog()
    clients.add_hook("before-call.*.*", log.hook)
    ec2 = clients("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    table = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    ctx = Ctx(
        clients=clients,
        stack="dev",
        region=REGION,
        account="123456789012",
        parallelism=1,
        timing=FAST,
    )
    return ctx, log, ec2, subnet, table


def _live(ctx: Ctx, table: str) -> Any:
    raw = ctx.client("ec2").describe_route_tables(RouteTableIds=[table])["RouteTables"][0]
    return RouteTable().to_live(raw)


def test_associations_deleted_by_their_own_steps_are_not_sent_again(moto: None) -> None:
    ctx, log, ec2, subnet, table = _setup(moto)
    assoc = ec2.associate_route_table(RouteTableId=table, SubnetId=subnet)["AssociationId"]
    live = _live(ctx, table)  # what the refresh read: the association is still there
    ec2.disassociate_route_table(AssociationId=assoc)  # its own step deleted it since
    log.clear()
    RouteTable().delete(ctx, live)
    assert log.mutating == ["DeleteRouteTable"]
    assert (
        ec2.describe_route_tables(Filters=[{"Name": "route-table-id", "Values": [table]}])[
            "RouteTables"
        ]
        == []
    )


def test_a_table_with_associations_of_its_own_loses_them_first(moto: None) -> None:
    """A table found by tag (no state records its associations): AWS refuses to delete it
    while subnets use it, so they are read then and disassociated."""
    ctx, log, ec2, subnet, table = _setup(moto)
    ec2.associate_route_table(RouteTableId=table, SubnetId=subnet)
    live = _live(ctx, table)
    log.clear()
    RouteTable().delete(ctx, live)
    assert log.mutating == ["DeleteRouteTable", "DisassociateRouteTable", "DeleteRouteTable"]
    assert (
        ec2.describe_route_tables(Filters=[{"Name": "route-table-id", "Values": [table]}])[
            "RouteTables"
        ]
        == []
    )
