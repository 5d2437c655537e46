"""VPC endpoints: the S3 gateway endpoint on route tables, interface endpoints in subnets.

Route tables, subnets, security groups and private DNS change in place (ModifyVpcEndpoint); the
VPC, service and type force a replacement. Interface endpoints start ``pending`` on AWS and are
waited for until ``available``; a deleted endpoint lingers as ``deleted`` and reads as gone.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from provisioner.aws.errors import has_code
from provisioner.aws.tags import tag_dict, tag_specs
from provisioner.engine.contract import Ctx, ReadItem
from provisioner.engine.model import FieldChange, Live
from provisioner.errors import AwsError
from provisioner.kind_helpers.ec2 import Ec2Kind, describe_all, ignore_missing, stack_filter

NOT_FOUND = ("InvalidVpcEndpointId.NotFound", "InvalidVpcEndpoint.NotFound")
CONSISTENCY = (
    "InvalidVpcID.NotFound",
    "InvalidRouteTableID.NotFound",
    "InvalidSubnetID.NotFound",
    "InvalidGroup.NotFound",
)
FAILED_STATES = frozenset({"failed", "rejected", "expired", "deleting", "deleted"})
# Spec field -> (ModifyVpcEndpoint's add parameter, its remove parameter).
LISTS = {
    "route_table_ids": ("AddRouteTableIds", "RemoveRouteTableIds"),
    "subnet_ids": ("AddSubnetIds", "RemoveSubnetIds"),
    "security_group_ids": ("AddSecurityGroupIds", "RemoveSecurityGroupIds"),
}


class VpcEndpoint(Ec2Kind):
    name = "vpc_endpoint"
    label = "VPC endpoint"
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
        """Poll one endpoint until it is ``available``. Not the batched poller
        (aws/waiters.py): that selects by the ``vpc-endpoint-id`` filter, which moto 5.2 lacks;
        a stack has two or three interface endpoints, so one describe each per round is cheap."""

        def check() -> Live | None:
            raws = self._by_id(ctx, endpoint_id)
            if not raws:
                return None  # not yet visible right after the create
            state = str(raws[0].get("State", "")).lower()
            if state == "available":
                return self.to_live(raws[0])
            if state in FAILED_STATES:
                error = raws[0].get("LastError") or {}
                raise AwsError(
                    f"VPC endpoint {endpoint_id} became {state}: "
                    f"{error.get('Code', '')}: {error.get('Message', '')}",
                    code=error.get("Code") or "VpcEndpointFailed",
                )
            return None

        return ctx.wait(check, what=f"VPC endpoint {endpoint_id} to become available")

    def _by_id(self, ctx: Ctx, endpoint_id: str) -> list[dict[str, Any]]:
        """The endpoint, or nothing if AWS does not know the id (yet, or any more)."""
        try:
            answer = ctx.client("ec2").describe_vpc_endpoints(VpcEndpointIds=[endpoint_id])
        except Exception as exc:
            if has_code(exc, *NOT_FOUND):
                return []
            raise
        return list(answer.get("VpcEndpoints", []))

    def raw_by_key(self, ctx: Ctx, items: Sequence[ReadItem]) -> dict[str, dict[str, Any]]:
        """As for every EC2 kind, except that recorded endpoints missing from the tagged listing
        are looked up by id (moto 5.2 has no ``vpc-endpoint-id`` filter, which the shared
        lookup uses); deleted ones linger in the listing and are simply gone."""
        listed = describe_all(ctx, self.describe, self.result_key, Filters=stack_filter(ctx))
        alive = {r[self.id_field] for r in listed if not self.is_gone(r)}
        known = {r[self.id_field] for r in listed}
        found = super().raw_by_key(
            ctx, [i if i.id in alive else dataclasses.replace(i, id=None) for i in items]
        )
        for item in items:
            if item.id and item.id not in known and item.key not in found:
                raws = [r for r in self._by_id(ctx, item.id) if not self.is_gone(r)]
                if raws:
                    found[item.key] = raws[0]
        return found

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
        group can be deleted only then). moto keeps it listed as ``deleted``: that is gone."""

        def gone() -> bool | None:
            raws = self._by_id(ctx, endpoint_id)
            return True if all(str(r.get("State")).lower() == "deleted" for r in raws) else None

        ctx.wait(gone, what=f"VPC endpoint {endpoint_id} to be deleted")
