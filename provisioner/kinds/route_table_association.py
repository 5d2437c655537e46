"""A subnet's association with a route table.

Found through the stack's route tables (associations carry no tags). A subnet associated with
another table out of band is moved back with ReplaceRouteTableAssociation, not re-created.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from provisioner.aws.errors import has_code
from provisioner.engine.contract import Ctx, Kind, ReadItem, Resolver
from provisioner.engine.model import FieldChange, Live
from provisioner.kind_helpers.ec2 import describe_all, ec2_grants, ignore_missing, stack_filter

NOT_FOUND = ("InvalidAssociationID.NotFound",)
CONSISTENCY = ("InvalidRouteTableID.NotFound", "InvalidSubnetID.NotFound")


class RouteTableAssociation(Kind):
    name = "route_table_association"
    label = "route table association"
    grants = ec2_grants(
        reads=("DescribeRouteTables",),
        changes=("AssociateRouteTable", "ReplaceRouteTableAssociation", "DisassociateRouteTable"),
    )
    replace_on = frozenset({"subnet_id"})

    def read(self, ctx: Ctx, items: Sequence[ReadItem], resolve: Resolver) -> dict[str, Live]:
        tables = describe_all(
            ctx, "describe_route_tables", "RouteTables", Filters=stack_filter(ctx)
        )
        by_subnet: dict[str, tuple[str, str]] = {}
        by_assoc: dict[str, tuple[str, str]] = {}
        for table in tables:
            for assoc in table.get("Associations", []):
                if assoc.get("SubnetId") and assoc.get("RouteTableAssociationId"):
                    pair = (table["RouteTableId"], assoc["SubnetId"])
                    by_subnet[assoc["SubnetId"]] = (assoc["RouteTableAssociationId"], pair[0])
                    by_assoc[assoc["RouteTableAssociationId"]] = (pair[1], pair[0])
        out: dict[str, Live] = {}
        for item in items:
            subnet_id = resolve(item.spec.get("subnet_id")) if item.spec is not None else None
            if isinstance(subnet_id, str) and subnet_id in by_subnet:
                assoc_id, table_id = by_subnet[subnet_id]
                out[item.key] = _live(assoc_id, table_id, subnet_id)
            elif item.id and item.id in by_assoc:
                subnet_id, table_id = by_assoc[item.id]
                out[item.key] = _live(item.id, table_id, subnet_id)
        return out

    def create(self, ctx: Ctx, key: str, spec: Mapping[str, Any], token: str) -> Live:
        ec2 = ctx.client("ec2")
        try:
            assoc_id = ctx.retry(
                lambda: ec2.associate_route_table(
                    RouteTableId=spec["route_table_id"], SubnetId=spec["subnet_id"]
                )["AssociationId"],
                codes=CONSISTENCY,
                what=f"associating {spec['subnet_id']} with {spec['route_table_id']}",
            )
        except Exception as exc:
            if not has_code(exc, "Resource.AlreadyAssociated"):
                raise
            # Associated with a table outside the stack (made by hand): move it over.
            current = describe_all(
                ctx,
                "describe_route_tables",
                "RouteTables",
                Filters=[{"Name": "association.subnet-id", "Values": [spec["subnet_id"]]}],
            )
            old = next(
                a["RouteTableAssociationId"]
                for t in current
                for a in t.get("Associations", [])
                if a.get("SubnetId") == spec["subnet_id"]
            )
            assoc_id = ec2.replace_route_table_association(
                AssociationId=old, RouteTableId=spec["route_table_id"]
            )["NewAssociationId"]
        return _live(assoc_id, spec["route_table_id"], spec["subnet_id"])

    def update(
        self, ctx: Ctx, live: Live, spec: Mapping[str, Any], changes: Sequence[FieldChange]
    ) -> Live:
        new_id = ctx.client("ec2").replace_route_table_association(
            AssociationId=live.id, RouteTableId=spec["route_table_id"]
        )["NewAssociationId"]
        return _live(new_id, spec["route_table_id"], spec["subnet_id"])

    def delete(self, ctx: Ctx, live: Live) -> None:
        ignore_missing(
            lambda: ctx.client("ec2").disassociate_route_table(AssociationId=live.id), *NOT_FOUND
        )


def _live(assoc_id: str, table_id: str, subnet_id: str) -> Live:
    return Live(assoc_id, {"route_table_id": table_id, "subnet_id": subnet_id})
