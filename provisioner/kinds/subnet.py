"""Subnets: public, private and database tiers, one of each per availability zone."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from provisioner.aws.errors import has_code
from provisioner.aws.tags import tag_dict, tag_specs
from provisioner.engine.contract import Ctx
from provisioner.engine.model import FieldChange, Live
from provisioner.kind_helpers.ec2 import Ec2Kind, delete_with_dependency_retry, ec2_grants

NOT_FOUND = ("InvalidSubnetID.NotFound",)


class Subnet(Ec2Kind):
    name = "subnet"
    label = "subnet"
    grants = ec2_grants(
        reads=("DescribeSubnets", "DescribeNetworkInterfaces"),
        creates={"CreateSubnet": "subnet"},
        changes=("ModifySubnetAttribute", "DeleteSubnet"),
    )
    describe = "describe_subnets"
    result_key = "Subnets"
    id_field = "SubnetId"
    id_filter = "subnet-id"
    replace_on = frozenset({"vpc_id", "cidr_block", "availability_zone"})

    def to_live(self, raw: Mapping[str, Any]) -> Live:
        return Live(
            raw["SubnetId"],
            {
                "vpc_id": raw.get("VpcId"),
                "cidr_block": raw.get("CidrBlock"),
                "availability_zone": raw.get("AvailabilityZone"),
                "map_public_ip_on_launch": bool(raw.get("MapPublicIpOnLaunch")),
                "tags": tag_dict(raw.get("Tags")),
            },
        )

    def create(self, ctx: Ctx, key: str, spec: Mapping[str, Any], token: str) -> Live:
        ec2 = ctx.client("ec2")
        try:
            raw = ctx.retry(
                lambda: ec2.create_subnet(
                    VpcId=spec["vpc_id"],
                    CidrBlock=spec["cidr_block"],
                    AvailabilityZone=spec["availability_zone"],
                    TagSpecifications=tag_specs("subnet", spec["tags"]),
                )["Subnet"],
                codes=("InvalidVpcID.NotFound",),
                what=f"creating subnet {spec['cidr_block']}",
            )
        except Exception as exc:
            if not has_code(exc, "InvalidSubnet.Conflict"):
                raise
            raw = self.adopt_on_conflict(ctx, key, exc)  # a lost answer's subnet is ours
        live = self.to_live(raw)
        changes = [c for c in self.diff(live, spec) if c.path == "map_public_ip_on_launch"]
        return self.update(ctx, live, spec, changes) if changes else live

    def update(
        self, ctx: Ctx, live: Live, spec: Mapping[str, Any], changes: Sequence[FieldChange]
    ) -> Live:
        ec2 = ctx.client("ec2")
        attrs = dict(live.attrs)
        fields = {c.path for c in changes}
        if "map_public_ip_on_launch" in fields:
            ctx.retry(
                lambda: ec2.modify_subnet_attribute(
                    SubnetId=live.id,
                    MapPublicIpOnLaunch={"Value": bool(spec["map_public_ip_on_launch"])},
                ),
                codes=NOT_FOUND,
                what=f"setting map_public_ip_on_launch on {live.id}",
            )
            attrs["map_public_ip_on_launch"] = bool(spec["map_public_ip_on_launch"])
        if "tags" in fields:
            self.sync_tags(ctx, live, spec["tags"])
            attrs["tags"] = dict(spec["tags"])
        return Live(live.id, attrs)

    def delete(self, ctx: Ctx, live: Live) -> None:
        ec2 = ctx.client("ec2")
        delete_with_dependency_retry(
            ctx,
            lambda: ec2.delete_subnet(SubnetId=live.id),
            what=f"subnet {live.id}",
            not_found=NOT_FOUND,
            eni_filter=("subnet-id", live.id),
        )
