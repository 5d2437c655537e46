"""The VPC's main route table, holding no route but the local one.

Subnets smprov creates are all associated with tables of their own; the main table serves any
subnet made later without one, and must not route it anywhere (the module's
``default_route_table_routes = []``). Routes a gateway endpoint owns (``vpce-`` targets) or VGW
propagation adds are governed by those features, not here, and are left out, as Terraform's
aws_default_route_table does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from provisioner.aws.tags import tag_dict
from provisioner.engine.contract import Ctx
from provisioner.engine.model import FieldChange, Live
from provisioner.kind_helpers.ec2 import ignore_missing
from provisioner.kind_helpers.vpc_default import VpcDefault, default_grants

DESTINATIONS = ("DestinationCidrBlock", "DestinationIpv6CidrBlock", "DestinationPrefixListId")
TARGETS = (
    "GatewayId",
    "NatGatewayId",
    "TransitGatewayId",
    "VpcPeeringConnectionId",
    "NetworkInterfaceId",
    "InstanceId",
    "EgressOnlyInternetGatewayId",
    "CarrierGatewayId",
    "LocalGatewayId",
    "CoreNetworkArn",
)


def _route_of(raw: Mapping[str, Any]) -> dict[str, str] | None:
    """A route as ``{"destination", "target"}``; None for the local route and for routes that
    belong to an endpoint or to route propagation."""
    gateway = str(raw.get("GatewayId") or "")
    if gateway == "local" or gateway.startswith("vpce-"):
        return None
    if raw.get("Origin") == "EnableVgwRoutePropagation":
        return None
    destination = next((raw[d] for d in DESTINATIONS if raw.get(d)), "")
    target = next((raw[t] for t in TARGETS if raw.get(t)), "")
    return {"destination": str(destination), "target": str(target)}


class MainRouteTable(VpcDefault):
    name = "main_route_table"
    label = "main route table"
    grants = default_grants(reads=("DescribeRouteTables",), changes=("DeleteRoute",))
    describe = "describe_route_tables"
    result_key = "RouteTables"
    id_field = "RouteTableId"
    id_filter = "route-table-id"
    default_filter = {"Name": "association.main", "Values": ["true"]}

    def to_live(self, raw: Mapping[str, Any]) -> Live:
        routes = [r for r in (_route_of(x) for x in raw.get("Routes", [])) if r is not None]
        return Live(
            raw["RouteTableId"],
            {
                "vpc_id": raw.get("VpcId"),
                "routes": sorted(routes, key=lambda r: r["destination"]),
                "tags": tag_dict(raw.get("Tags")),
            },
        )

    def diff(self, live: Live, spec: Mapping[str, Any]) -> list[FieldChange]:
        # The desired state is fixed (no route), so it is not a spec field: any route is drift.
        changes = super().diff(live, spec)
        if live.get("routes"):
            changes.append(FieldChange("routes", live.get("routes"), []))
        return changes

    def reconcile(self, ctx: Ctx, live: Live, spec: Mapping[str, Any], fields: set[str]) -> Live:
        if "routes" not in fields:
            return live
        ec2 = ctx.client("ec2")
        for route in live.get("routes") or []:
            dest = route["destination"]
            if dest.startswith("pl-"):
                param = "DestinationPrefixListId"
            else:
                param = "DestinationIpv6CidrBlock" if ":" in dest else "DestinationCidrBlock"
            ignore_missing(
                lambda p=param, d=dest: ec2.delete_route(RouteTableId=live.id, **{p: d}),
                "InvalidRoute.NotFound",
            )
        return Live(live.id, {**live.attrs, "routes": []})
