"""The VPC's DHCP options set (AmazonProvidedDNS), associated by the VPC kind.

DHCP options sets are immutable in AWS: any change of servers or domain replaces the set.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from provisioner.aws.tags import tag_dict, tag_specs
from provisioner.engine.contract import Ctx
from provisioner.engine.model import Live
from provisioner.kind_helpers.ec2 import Ec2Kind, delete_with_dependency_retry, ec2_grants

NOT_FOUND = ("InvalidDhcpOptionID.NotFound", "InvalidDhcpOptionsID.NotFound")


def _configurations(raw: Mapping[str, Any]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for item in raw.get("DhcpConfigurations", []):
        out[item["Key"]] = sorted(v["Value"] for v in item.get("Values", []))
    return out


class DhcpOptions(Ec2Kind):
    name = "dhcp_options"
    label = "DHCP options"
    grants = ec2_grants(
        reads=("DescribeDhcpOptions",),
        creates={"CreateDhcpOptions": "dhcp-options"},
        changes=("DeleteDhcpOptions",),
    )
    describe = "describe_dhcp_options"
    result_key = "DhcpOptions"
    id_field = "DhcpOptionsId"
    id_filter = "dhcp-options-id"
    replace_on = frozenset({"domain_name_servers", "domain_name"})
    unordered = frozenset({"domain_name_servers"})

    def to_live(self, raw: Mapping[str, Any]) -> Live:
        conf = _configurations(raw)
        domain = conf.get("domain-name", [])
        return Live(
            raw["DhcpOptionsId"],
            {
                "domain_name_servers": conf.get("domain-name-servers", []),
                "domain_name": domain[0] if domain else "",
                "tags": tag_dict(raw.get("Tags")),
            },
        )

    def create(self, ctx: Ctx, key: str, spec: Mapping[str, Any], token: str) -> Live:
        ec2 = ctx.client("ec2")
        conf = [{"Key": "domain-name-servers", "Values": list(spec["domain_name_servers"])}]
        if spec.get("domain_name"):
            conf.append({"Key": "domain-name", "Values": [spec["domain_name"]]})
        answer = ec2.create_dhcp_options(
            DhcpConfigurations=conf, TagSpecifications=tag_specs("dhcp-options", spec["tags"])
        )
        raw = answer["DhcpOptions"]
        self.drop_twins(ctx, key, answer, raw["DhcpOptionsId"])
        return self.to_live(raw)

    def delete(self, ctx: Ctx, live: Live) -> None:
        ec2 = ctx.client("ec2")
        delete_with_dependency_retry(
            ctx,
            lambda: ec2.delete_dhcp_options(DhcpOptionsId=live.id),
            what=f"DHCP options {live.id}",
            not_found=NOT_FOUND,
            eni_filter=None,
        )
