"""Elastic IPs for the NAT gateways (one per NAT gateway)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from provisioner.aws.tags import tag_dict, tag_specs
from provisioner.engine.contract import Ctx
from provisioner.engine.model import Live
from provisioner.kind_helpers.ec2 import Ec2Kind, delete_with_dependency_retry, ec2_grants

NOT_FOUND = ("InvalidAllocationID.NotFound",)


class ElasticIp(Ec2Kind):
    name = "eip"
    label = "Elastic IP"
    grants = ec2_grants(
        reads=("DescribeAddresses",),
        creates={"AllocateAddress": "elastic-ip"},
        changes=("ReleaseAddress",),
    )
    describe = "describe_addresses"
    result_key = "Addresses"
    id_field = "AllocationId"
    id_filter = "allocation-id"
    replace_on = frozenset({"domain"})

    def to_live(self, raw: Mapping[str, Any]) -> Live:
        return Live(
            raw["AllocationId"],
            {
                "domain": raw.get("Domain", "vpc"),
                "public_ip": raw.get("PublicIp"),
                "tags": tag_dict(raw.get("Tags")),
            },
        )

    def create(self, ctx: Ctx, key: str, spec: Mapping[str, Any], token: str) -> Live:
        raw = ctx.client("ec2").allocate_address(
            Domain=spec["domain"], TagSpecifications=tag_specs("elastic-ip", spec["tags"])
        )
        self.drop_twins(ctx, key, raw, raw["AllocationId"])
        return Live(
            raw["AllocationId"],
            {
                "domain": spec["domain"],
                "public_ip": raw.get("PublicIp"),
                "tags": dict(spec["tags"]),
            },
        )

    def delete(self, ctx: Ctx, live: Live) -> None:
        ec2 = ctx.client("ec2")
        # AWS may still hold the address for a NAT gateway that has just reached `deleted`.
        delete_with_dependency_retry(
            ctx,
            lambda: ec2.release_address(AllocationId=live.id),
            what=f"Elastic IP {live.id}",
            not_found=NOT_FOUND,
            eni_filter=None,
        )
