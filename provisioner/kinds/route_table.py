"""Route tables: one public, one private per NAT gateway. Routes and associations are kinds of
their own (route.py, route_table_association.py) so each can wait only for what it needs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from provisioner.aws.errors import has_code
from provisioner.aws.tags import tag_dict, tag_specs
from provisioner.engine.contract import Ctx
from provisioner.engine.model import FieldChange, Live
from provisioner.kind_helpers.ec2 import (
    Ec2Kind,
    delete_with_dependency_retry,
    ec2_grants,
    ignore_missing,
)

NOT_FOUND = ("InvalidRouteTableID.NotFound",)


class RouteTable(Ec2Kind):
    name = "route_table"
    label = "route table"
    grants = ec2_grants(
        reads=("DescribeRouteTables",),
        creates={"CreateRouteTable": "route-table"},
        changes=("DisassociateRouteTable", "DeleteRouteTable"),
    )
    describe = "describe_route_tables"
    result_key = "RouteTables"
    id_field = "RouteTableId"
    id_filter = "route-table-id"
    replace_on = frozenset({"vpc_id"})

    def uses_token(self) -> bool:
        return True

    def to_live(self, raw: Mapping[str, Any]) -> Live:
        return Live(
            raw["RouteTableId"],
            {
                "vpc_id": raw.get("VpcId"),
                "tags": tag_dict(raw.get("Tags")),
                "associations": [
                    a["RouteTableAssociationId"]
                    for a in raw.get("Associations", [])
                    if not a.get("Main") and a.get("RouteTableAssociationId")
                ],
            },
        )

    def create(self, ctx: Ctx, key: str, spec: Mapping[str, Any], token: str) -> Live:
        ec2 = ctx.client("ec2")
        raw = ctx.retry(
            lambda: ec2.create_route_table(
                VpcId=spec["vpc_id"],
                ClientToken=token,
                TagSpecifications=tag_specs("route-table", spec["tags"]),
            )["RouteTable"],
            codes=("InvalidVpcID.NotFound",),
            what="creating route table",
        )
        return Live(
            raw["RouteTableId"],
            {"vpc_id": raw.get("VpcId"), "tags": dict(spec["tags"]), "associations": []},
        )

    def diff(self, live: Live, spec: Mapping[str, Any]) -> list[FieldChange]:
        return super().diff(live, {k: v for k, v in spec.items() if k != "associations"})

    def delete(self, ctx: Ctx, live: Live) -> None:
        ec2 = ctx.client("ec2")
        try:
            ignore_missing(lambda: ec2.delete_route_table(RouteTableId=live.id), *NOT_FOUND)
            return
        except Exception as exc:
            if not has_code(exc, "DependencyViolation"):
                raise
        # Associations are their own kind and are deleted before their table, so the refresh's
        # list is stale by now (re-sending it would be one wasted write per subnet). Only a
        # table found by tag with associations of its own gets here: read them, remove them.
        for assoc in self._associations(ctx, live.id):
            ignore_missing(
                lambda a=assoc: ec2.disassociate_route_table(AssociationId=a),
                "InvalidAssociationID.NotFound",
            )
        delete_with_dependency_retry(
            ctx,
            lambda: ec2.delete_route_table(RouteTableId=live.id),
            what=f"route table {live.id}",
            not_found=NOT_FOUND,
            eni_filter=None,
        )

    def _associations(self, ctx: Ctx, table_id: str) -> list[str]:
        tables = ctx.client("ec2").describe_route_tables(RouteTableIds=[table_id])
        return [
            assoc
            for raw in tables.get("RouteTables", [])
            for assoc in self.to_live(raw).get("associations") or []
        ]
