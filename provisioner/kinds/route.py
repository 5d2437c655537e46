"""One route in a route table (0.0.0.0/0 to the internet gateway or to a NAT gateway).

Routes carry no tags: they are found through their table, which the same refresh reads by tag.
The id is ``<route table id>_<destination>``, as Terraform's aws_route uses.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from provisioner.aws.errors import has_code
from provisioner.aws.tags import tag_dict
from provisioner.engine.contract import KEY_TAG, Ctx, Kind, ReadItem, Resolver
from provisioner.engine.model import FieldChange, Live, Ref
from provisioner.kind_helpers.ec2 import describe_all, ec2_grants, ignore_missing, stack_filter

TARGETS = ("gateway_id", "nat_gateway_id")
CONSISTENCY = (
    "InvalidRouteTableID.NotFound",
    "InvalidNatGatewayID.NotFound",
    "InvalidGatewayID.NotFound",
    "InvalidInternetGatewayID.NotFound",
)


def _route_live(table_id: str, route: Mapping[str, Any]) -> Live:
    dest = route.get("DestinationCidrBlock")
    gateway = route.get("GatewayId")
    return Live(
        f"{table_id}_{dest}",
        {
            "route_table_id": table_id,
            "destination_cidr_block": dest,
            "gateway_id": gateway if gateway and gateway != "local" else None,
            "nat_gateway_id": route.get("NatGatewayId"),
            # A route whose target was deleted is a "blackhole": it must be put right.
            "state": route.get("State"),
        },
    )


class Route(Kind):
    name = "route"
    # Found through the route tables by their smprov:key tags: no parent id needed.
    reads_independently = True
    label = "route"
    grants = ec2_grants(
        reads=("DescribeRouteTables",), changes=("CreateRoute", "ReplaceRoute", "DeleteRoute")
    )
    replace_on = frozenset({"route_table_id", "destination_cidr_block"})

    def read(self, ctx: Ctx, items: Sequence[ReadItem], resolve: Resolver) -> dict[str, Live]:
        tables = describe_all(
            ctx, "describe_route_tables", "RouteTables", Filters=stack_filter(ctx)
        )
        by_key = {tag_dict(t.get("Tags")).get(KEY_TAG): t for t in tables}
        by_id = {t["RouteTableId"]: t for t in tables}
        out: dict[str, Live] = {}
        for item in items:
            table = None
            dest = None
            if item.spec is not None:
                ref = item.spec.get("route_table_id")
                table = by_key.get(ref.key) if isinstance(ref, Ref) else by_id.get(ref)
                dest = item.spec.get("destination_cidr_block")
            if table is None and item.id and "_" in item.id:
                table_id, dest = item.id.split("_", 1)
                table = by_id.get(table_id)
            if table is None:
                continue
            for route in table.get("Routes", []):
                if route.get("DestinationCidrBlock") == dest:
                    out[item.key] = _route_live(table["RouteTableId"], route)
        return out

    def diff(self, live: Live, spec: Mapping[str, Any]) -> list[FieldChange]:
        changes = super().diff(live, {**{t: None for t in TARGETS}, **spec})
        if live.get("state") == "blackhole" and not any(c.path in TARGETS for c in changes):
            target = next(t for t in TARGETS if spec.get(t))
            changes.append(FieldChange(target, "blackhole", spec[target]))
        return changes

    def _target(self, spec: Mapping[str, Any]) -> dict[str, str]:
        if spec.get("nat_gateway_id"):
            return {"NatGatewayId": spec["nat_gateway_id"]}
        return {"GatewayId": spec["gateway_id"]}

    def create(self, ctx: Ctx, key: str, spec: Mapping[str, Any], token: str) -> Live:
        ec2 = ctx.client("ec2")
        params = {
            "RouteTableId": spec["route_table_id"],
            "DestinationCidrBlock": spec["destination_cidr_block"],
            **self._target(spec),
        }

        def create() -> None:
            try:
                ec2.create_route(**params)
            except Exception as exc:
                # Left by a run that died after the call: point it where it belongs.
                if not has_code(exc, "RouteAlreadyExists"):
                    raise
                ec2.replace_route(**params)

        ctx.retry(
            create, codes=CONSISTENCY, what=f"creating route {spec['destination_cidr_block']}"
        )
        return self._live(spec)

    def _live(self, spec: Mapping[str, Any]) -> Live:
        return Live(
            f"{spec['route_table_id']}_{spec['destination_cidr_block']}",
            {
                "route_table_id": spec["route_table_id"],
                "destination_cidr_block": spec["destination_cidr_block"],
                "gateway_id": spec.get("gateway_id"),
                "nat_gateway_id": spec.get("nat_gateway_id"),
                "state": "active",
            },
        )

    def update(
        self, ctx: Ctx, live: Live, spec: Mapping[str, Any], changes: Sequence[FieldChange]
    ) -> Live:
        ec2 = ctx.client("ec2")
        ctx.retry(
            lambda: ec2.replace_route(
                RouteTableId=spec["route_table_id"],
                DestinationCidrBlock=spec["destination_cidr_block"],
                **self._target(spec),
            ),
            codes=CONSISTENCY,
            what=f"replacing route {spec['destination_cidr_block']}",
        )
        return self._live(spec)

    def delete(self, ctx: Ctx, live: Live) -> None:
        ignore_missing(
            lambda: ctx.client("ec2").delete_route(
                RouteTableId=live.get("route_table_id"),
                DestinationCidrBlock=live.get("destination_cidr_block"),
            ),
            "InvalidRoute.NotFound",
            "InvalidRouteTableID.NotFound",
        )
