"""VPC endpoints: the S3 gateway endpoint on route tables, interface endpoints in subnets.

Route tables, subnets, security groups and private DNS change in place (ModifyVpcEndpoint); the
VPC, service and type force a replacement. Interface endpoints start ``pending`` on AWS and are
waited for until ``available``; a deleted endpoint lingers as ``deleted`` and reads as gone.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from provisioner.aws.tags import tag_dict, tag_specs
from provisioner.aws.waiters import AVAILABLE, DELETED, wait_for
from provisioner.engine.contract import Ctx, Grant, ReadItem
from provisioner.engine.model import FieldChange, Live
from provisioner.errors import AwsError
from provisioner.kind_helpers.ec2 import (
    Ec2Kind,
    describe_all,
    ec2_grants,
    ignore_missing,
    stack_filter,
)

NOT_FOUND = ("InvalidVpcEndpointId.NotFound", "InvalidVpcEndpoint.NotFound")
CONSISTENCY = (
    "InvalidVpcID.NotFound",
    "InvalidRouteTableID.NotFound",
    "InvalidSubnetID.NotFound",
    "InvalidGroup.NotFound",
)
# Spec field -> (ModifyVpcEndpoint's add parameter, its remove parameter).
LISTS = {
    "route_table_ids": ("AddRouteTableIds", "RemoveRouteTableIds"),
    "subnet_ids": ("AddSubnetIds", "RemoveSubnetIds"),
    "security_group_ids": ("AddSecurityGroupIds", "RemoveSecurityGroupIds"),
}


class VpcEndpoint(Ec2Kind):
    name = "vpc_endpoint"
    label = "VPC endpoint"
    grants = (
        *ec2_grants(
            reads=("DescribeVpcEndpoints",),
            creates={"CreateVpcEndpoint": "vpc-endpoint"},
            changes=("ModifyVpcEndpoint", "DeleteVpcEndpoints"),
        ),
        # Private DNS on an interface endpoint associates the VPC with AWS's hosted zone.
        Grant("EndpointPrivateDns", ("route53:AssociateVPCWithHostedZone",)),
    )
    describe = "describe_vpc_endpoints"
    result_key = "VpcEndpoints"
    id_field = "VpcEndpointId"
    id_filter = "vpc-endpoint-id"
    replace_on = frozenset({"vpc_id", "service_name", "vpc_endpoint_type"})
    unordered = frozenset(LISTS)
    # Interface endpoints take minutes each way on AWS: the executor starts their chains first.
    create_seconds = 120.0
    waits_while_pending = True
    delete_seconds = 60.0

    def uses_token(self) -> bool:
        return True

    def to_live(self, raw: Mapping[str, Any]) -> Live:
        return Live(
            raw["VpcEndpointId"],
            {
                "vpc_id": raw.get("VpcId"),
                "service_name": raw.get("ServiceName"),
                "vpc_endpoint_type": raw.get("VpcEndpointType"),
                "route_table_ids": sorted(raw.get("RouteTableIds") or []),
                "subnet_ids": sorted(raw.get("SubnetIds") or []),
                "security_group_ids": sorted(g["GroupId"] for g in raw.get("Groups") or []),
                "private_dns_enabled": bool(raw.get("PrivateDnsEnabled")),
                "dns_names": [e["DnsName"] for e in raw.get("DnsEntries") or [] if "DnsName" in e],
                "state": str(raw.get("State", "")).lower(),
                "tags": tag_dict(raw.get("Tags")),
            },
        )

    def failure(self, raw: Mapping[str, Any]) -> tuple[str | None, str]:
        error = raw.get("LastError") or {}
        return error.get("Code"), str(error.get("Message") or "")

    def create(self, ctx: Ctx, key: str, spec: Mapping[str, Any], token: str) -> Live:
        ec2 = ctx.client("ec2")
        params: dict[str, Any] = {
            "VpcEndpointType": spec["vpc_endpoint_type"],
            "VpcId": spec["vpc_id"],
            "ServiceName": spec["service_name"],
            "ClientToken": token,
            "TagSpecifications": tag_specs("vpc-endpoint", spec["tags"]),
        }
        if spec["vpc_endpoint_type"] == "Gateway":
            # Created with its final route tables: no modify call, no window without the route.
            params["RouteTableIds"] = list(spec.get("route_table_ids") or [])
        else:
            params["SubnetIds"] = list(spec.get("subnet_ids") or [])
            params["SecurityGroupIds"] = list(spec.get("security_group_ids") or [])
            params["PrivateDnsEnabled"] = bool(spec.get("private_dns_enabled"))
        raw = ctx.retry(
            lambda: ec2.create_vpc_endpoint(**params)["VpcEndpoint"],
            codes=CONSISTENCY,
            what=f"creating the {spec['service_name']} endpoint",
        )
        live = self.to_live(raw)
        if live.get("state") != "available":
            live = self.wait_available(ctx, live.id)
        return live

    def wait_available(self, ctx: Ctx, endpoint_id: str) -> Live:
        """Until the endpoint is ``available`` (AWS's reason when it fails), polled together with
        every other endpoint the run waits for: one describe per round."""
        raw = wait_for(ctx, self.polled, endpoint_id, AVAILABLE)
        assert raw is not None  # AVAILABLE never accepts an absent endpoint
        return self.to_live(raw)

    def raw_by_key(self, ctx: Ctx, items: Sequence[ReadItem]) -> dict[str, dict[str, Any]]:
        """As for every EC2 kind, except that an endpoint deleted a moment ago lingers in the
        listing as ``deleted``: it is gone, and not looked up again by id."""
        listed = describe_all(ctx, self.describe, self.result_key, Filters=stack_filter(ctx))
        gone = {r[self.id_field] for r in listed if self.is_gone(r)}
        return super().raw_by_key(
            ctx, [dataclasses.replace(i, id=None) if i.id in gone else i for i in items]
        )

    def update(
        self, ctx: Ctx, live: Live, spec: Mapping[str, Any], changes: Sequence[FieldChange]
    ) -> Live:
        fields = {c.path for c in changes}
        params: dict[str, Any] = {}
        for field, (add, remove) in LISTS.items():
            if field not in fields:
                continue
            have, want = set(live.get(field) or []), set(spec.get(field) or [])
            if want - have:
                params[add] = sorted(want - have)
            if have - want:
                params[remove] = sorted(have - want)
        if "private_dns_enabled" in fields:
            params["PrivateDnsEnabled"] = bool(spec["private_dns_enabled"])
        attrs = dict(live.attrs)
        if params:
            ctx.retry(
                lambda: ctx.client("ec2").modify_vpc_endpoint(VpcEndpointId=live.id, **params),
                codes=CONSISTENCY,
                what=f"updating VPC endpoint {live.id}",
            )
            attrs.update({f: sorted(spec.get(f) or []) for f in LISTS if f in fields})
            if "private_dns_enabled" in fields:
                attrs["private_dns_enabled"] = bool(spec["private_dns_enabled"])
        if (params and spec.get("vpc_endpoint_type") == "Interface") or "state" in fields:
            # An interface endpoint goes back to ``pending`` while its network interfaces move.
            attrs = {**attrs, **self.wait_available(ctx, live.id).attrs}
        if "tags" in fields:
            self.sync_tags(ctx, live, spec["tags"])
            attrs["tags"] = dict(spec["tags"])
        return Live(live.id, attrs)

    def delete(self, ctx: Ctx, live: Live) -> None:
        ec2 = ctx.client("ec2")

        def delete() -> None:
            answer = ec2.delete_vpc_endpoints(VpcEndpointIds=[live.id])
            for item in answer.get("Unsuccessful") or []:
                error = item.get("Error") or {}
                if error.get("Code") not in NOT_FOUND:
                    raise AwsError(
                        f"deleting VPC endpoint {live.id}: {error.get('Code')}: "
                        f"{error.get('Message', '')}",
                        code=error.get("Code"),
                        operation="DeleteVpcEndpoints",
                    )

        ignore_missing(delete, *NOT_FOUND)
        self.wait_deleted(ctx, live.id)

    def wait_deleted(self, ctx: Ctx, endpoint_id: str) -> None:
        """Until AWS has released the endpoint's network interfaces (its subnets and security
        group can be deleted only then): ``deleted``, or no longer listed."""
        wait_for(ctx, self.polled, endpoint_id, DELETED)
