"""The VPC's default network ACL, holding exactly the entries AWS creates with it.

Those are rule 100 allowing all traffic (ingress and egress) and the catch-all deny, which AWS
numbers 32767 (32768 for IPv6) and which cannot be changed or deleted: it is left out of the
comparison. Any other entry is drift and is deleted; an entry changed out of band is replaced.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from provisioner.aws.tags import tag_dict
from provisioner.engine.contract import Ctx
from provisioner.engine.model import Live
from provisioner.kind_helpers.ec2 import ignore_missing
from provisioner.kind_helpers.vpc_default import VpcDefault, default_grants

Entry = dict[str, Any]
#: AWS's own catch-all deny entries (IPv4, IPv6): fixed, never part of a spec.
CATCH_ALL = frozenset({32767, 32768})


def entry(
    rule_number: int,
    action: str,
    cidr: str,
    protocol: str = "-1",
    ports: tuple[int, int] | None = None,
    icmp: tuple[int, int] | None = None,
) -> Entry:
    """An entry as specs write it and the kind reads it (protocol as AWS's number string)."""
    return {
        "rule_number": rule_number,
        "protocol": protocol,
        "action": action,
        "cidr": cidr,
        "ports": list(ports) if ports is not None else None,
        "icmp": list(icmp) if icmp is not None else None,
    }


def _entry_of(raw: Mapping[str, Any]) -> Entry:
    ports = raw.get("PortRange")
    icmp = raw.get("IcmpTypeCode")
    return entry(
        int(raw["RuleNumber"]),
        str(raw.get("RuleAction")),
        str(raw.get("CidrBlock") or raw.get("Ipv6CidrBlock")),
        str(raw.get("Protocol")),
        (int(ports["From"]), int(ports["To"])) if ports else None,
        (int(icmp["Type"]), int(icmp["Code"])) if icmp else None,
    )


def _params(e: Mapping[str, Any]) -> dict[str, Any]:
    params: dict[str, Any] = {
        "RuleNumber": int(e["rule_number"]),
        "Protocol": str(e["protocol"]),
        "RuleAction": e["action"],
    }
    params["Ipv6CidrBlock" if ":" in e["cidr"] else "CidrBlock"] = e["cidr"]
    if e.get("ports"):
        params["PortRange"] = {"From": e["ports"][0], "To": e["ports"][1]}
    if e.get("icmp"):
        params["IcmpTypeCode"] = {"Type": e["icmp"][0], "Code": e["icmp"][1]}
    return params


class DefaultNetworkAcl(VpcDefault):
    name = "default_network_acl"
    label = "default network ACL"
    grants = default_grants(
        reads=("DescribeNetworkAcls",),
        changes=("CreateNetworkAclEntry", "ReplaceNetworkAclEntry", "DeleteNetworkAclEntry"),
    )
    describe = "describe_network_acls"
    result_key = "NetworkAcls"
    id_field = "NetworkAclId"
    id_filter = "network-acl-id"
    default_filter = {"Name": "default", "Values": ["true"]}
    unordered = frozenset({"ingress", "egress"})

    def to_live(self, raw: Mapping[str, Any]) -> Live:
        entries = [e for e in raw.get("Entries", []) if int(e["RuleNumber"]) not in CATCH_ALL]
        return Live(
            raw["NetworkAclId"],
            {
                "vpc_id": raw.get("VpcId"),
                "ingress": sorted(
                    (_entry_of(e) for e in entries if not e.get("Egress")),
                    key=lambda e: e["rule_number"],
                ),
                "egress": sorted(
                    (_entry_of(e) for e in entries if e.get("Egress")),
                    key=lambda e: e["rule_number"],
                ),
                "tags": tag_dict(raw.get("Tags")),
            },
        )

    def reconcile(self, ctx: Ctx, live: Live, spec: Mapping[str, Any], fields: set[str]) -> Live:
        ec2 = ctx.client("ec2")
        attrs = dict(live.attrs)
        for direction in ("ingress", "egress"):
            if direction not in fields:
                continue
            egress = direction == "egress"
            have = {e["rule_number"]: e for e in live.get(direction) or []}
            want = {int(e["rule_number"]): dict(e) for e in spec.get(direction) or []}
            for number, e in sorted(want.items()):
                if number not in have:
                    ec2.create_network_acl_entry(NetworkAclId=live.id, Egress=egress, **_params(e))
                elif have[number] != e:
                    ec2.replace_network_acl_entry(NetworkAclId=live.id, Egress=egress, **_params(e))
            for number in sorted(set(have) - set(want)):
                ignore_missing(
                    lambda n=number, e=egress: ec2.delete_network_acl_entry(
                        NetworkAclId=live.id, RuleNumber=n, Egress=e
                    ),
                    "InvalidNetworkAclEntry.NotFound",
                )
            attrs[direction] = [want[n] for n in sorted(want)]
        return Live(live.id, attrs)
