"""The VPC, with DNS support and hostnames and its DHCP options association."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from provisioner.aws.tags import tag_dict, tag_specs
from provisioner.engine.contract import Ctx, ReadItem, Resolver
from provisioner.engine.model import FieldChange, Live
from provisioner.kind_helpers.ec2 import Ec2Kind, delete_with_dependency_retry, ec2_grants

NOT_FOUND = ("InvalidVpcID.NotFound",)
# AWS's defaults for a new non-default VPC (ModifyVpcAttribute docs): support on, hostnames off.
AWS_DEFAULT_DNS = {"enable_dns_support": True, "enable_dns_hostnames": False}
ATTRIBUTE_NAMES = {
    "enable_dns_support": "EnableDnsSupport",
    "enable_dns_hostnames": "EnableDnsHostnames",
}


class Vpc(Ec2Kind):
    name = "vpc"
    label = "VPC"
    grants = ec2_grants(
        reads=("DescribeVpcs", "DescribeVpcAttribute", "DescribeNetworkInterfaces"),
        creates={"CreateVpc": "vpc"},
        changes=("AssociateDhcpOptions", "ModifyVpcAttribute", "DeleteVpc"),
    )
    describe = "describe_vpcs"
    result_key = "Vpcs"
    id_field = "VpcId"
    id_filter = "vpc-id"
    replace_on = frozenset({"cidr_block"})

    def to_live(self, raw: Mapping[str, Any]) -> Live:
        return Live(
            raw["VpcId"],
            {
                "cidr_block": raw.get("CidrBlock"),
                "dhcp_options_id": raw.get("DhcpOptionsId"),
                "tags": tag_dict(raw.get("Tags")),
                "state": raw.get("State"),
            },
        )

    def read(self, ctx: Ctx, items: Sequence[ReadItem], resolve: Resolver) -> dict[str, Live]:
        """DescribeVpcs carries no DNS fields: one DescribeVpcAttribute per attribute. For the
        VPCs the state records, they go out with the describe (one round trip, not two); an
        answer about a VPC that turns out to be gone is dropped."""
        ec2 = ctx.client("ec2")
        base = super().read
        if ctx.teardown:  # the DNS attributes only serve a diff
            return dict(base(ctx, items, resolve))
        guesses = [
            (vpc, f) for vpc in sorted({i.id for i in items if i.id}) for f in ATTRIBUTE_NAMES
        ]
        lives, known = ctx.with_guesses(
            lambda: base(ctx, items, resolve),
            {(vpc, f): lambda v=vpc, f=f: _attribute(ec2, v, f) for vpc, f in guesses},
        )
        missing = [
            (live.id, field)
            for live in lives.values()
            for field in ATTRIBUTE_NAMES
            if (live.id, field) not in known
        ]
        fetched = ctx.gather(
            [lambda v=vpc, f=field: _attribute(ec2, v, f) for vpc, field in missing]
        )
        known.update(zip(missing, fetched, strict=True))
        return {
            key: Live(live.id, {**live.attrs, **{f: known[(live.id, f)] for f in ATTRIBUTE_NAMES}})
            for key, live in lives.items()
        }

    def create(self, ctx: Ctx, key: str, spec: Mapping[str, Any], token: str) -> Live:
        ec2 = ctx.client("ec2")
        answer = ec2.create_vpc(
            CidrBlock=spec["cidr_block"], TagSpecifications=tag_specs("vpc", spec["tags"])
        )
        vpc = answer["Vpc"]
        self.drop_twins(ctx, key, answer, vpc["VpcId"])
        live = Live(
            vpc["VpcId"],
            {
                "cidr_block": vpc["CidrBlock"],
                "dhcp_options_id": vpc.get("DhcpOptionsId"),
                "tags": tag_dict(vpc.get("Tags")) or dict(spec["tags"]),
                "state": vpc.get("State"),
                **AWS_DEFAULT_DNS,
            },
        )
        changes = [c for c in self.diff(live, spec) if c.path != "tags"]
        return self.update(ctx, live, spec, changes) if changes else live

    def update(
        self, ctx: Ctx, live: Live, spec: Mapping[str, Any], changes: Sequence[FieldChange]
    ) -> Live:
        ec2 = ctx.client("ec2")
        attrs = dict(live.attrs)
        fields = {c.path for c in changes}
        # AWS accepts one attribute per ModifyVpcAttribute call; hostnames need support on, so
        # turn support on first and hostnames off first.
        order = ["enable_dns_support", "enable_dns_hostnames"]
        if not spec.get("enable_dns_support", True):
            order.reverse()
        for field in order:
            if field in fields:
                value = bool(spec[field])
                ctx.retry(
                    lambda f=field, v=value: ec2.modify_vpc_attribute(
                        VpcId=live.id, **{ATTRIBUTE_NAMES[f]: {"Value": v}}
                    ),
                    codes=NOT_FOUND,
                    what=f"setting {field} on {live.id}",
                )
                attrs[field] = value
        if "dhcp_options_id" in fields and spec.get("dhcp_options_id"):
            ctx.retry(
                lambda: ec2.associate_dhcp_options(
                    DhcpOptionsId=spec["dhcp_options_id"], VpcId=live.id
                ),
                codes=(*NOT_FOUND, "InvalidDhcpOptionID.NotFound"),
                what=f"associating DHCP options with {live.id}",
            )
            attrs["dhcp_options_id"] = spec["dhcp_options_id"]
        if "tags" in fields:
            self.sync_tags(ctx, live, spec["tags"])
            attrs["tags"] = dict(spec["tags"])
        return Live(live.id, attrs)

    def delete(self, ctx: Ctx, live: Live) -> None:
        ec2 = ctx.client("ec2")
        # AWS keeps the VPC's DHCP options set (its own step deletes it, or a replacement VPC
        # takes it).
        delete_with_dependency_retry(
            ctx,
            lambda: ec2.delete_vpc(VpcId=live.id),
            what=f"VPC {live.id}",
            not_found=NOT_FOUND,
            eni_filter=("vpc-id", live.id),
        )


def _attribute(ec2: Any, vpc_id: str, field: str) -> bool:
    aws_name = ATTRIBUTE_NAMES[field]
    answer = ec2.describe_vpc_attribute(VpcId=vpc_id, Attribute=aws_name[0].lower() + aws_name[1:])
    return bool(answer.get(aws_name, {}).get("Value"))
