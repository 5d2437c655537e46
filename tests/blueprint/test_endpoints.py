"""The endpoints part of the blueprint: the S3 gateway and the interface endpoints."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from provisioner import blueprint
from provisioner.config import parse_config
from provisioner.engine.model import Ref

ZONES = ("us-east-1a", "us-east-1b", "us-east-1c")


def _build(**settings: Any) -> dict[str, Any]:
    config = parse_config(settings, base_dir=Path.cwd(), source="test").resolve(ZONES)
    return {d.key: d for d in blueprint.build(config, account="123456789012")}


def test_s3_gateway_serves_every_private_table() -> None:
    single = _build()["vpc_endpoint.s3"].spec
    assert single["vpc_endpoint_type"] == "Gateway"
    assert single["service_name"] == "com.amazonaws.us-east-1.s3"
    assert single["route_table_ids"] == (Ref("route_table.private.us-east-1a"),)

    redundant = _build(vpc_redundancy=True)["vpc_endpoint.s3"].spec
    assert redundant["route_table_ids"] == (
        Ref("route_table.private.us-east-1a"),
        Ref("route_table.private.us-east-1b"),
    )


def test_interface_endpoints_sit_in_the_private_subnets_behind_their_group() -> None:
    desired = _build(interface_endpoints=["sagemaker.api", "sts"])
    for service in ("sagemaker.api", "sts"):
        spec = desired[f"vpc_endpoint.{service}"].spec
        assert spec["service_name"] == f"com.amazonaws.us-east-1.{service}"
        assert spec["vpc_endpoint_type"] == "Interface"
        assert spec["subnet_ids"] == (
            Ref("subnet.private.us-east-1a"),
            Ref("subnet.private.us-east-1b"),
        )
        assert spec["security_group_ids"] == (Ref("security_group.vpc_endpoints"),)
        assert spec["private_dns_enabled"] is True
    assert "vpc_endpoint.sagemaker.runtime" not in desired

    group = desired["security_group.vpc_endpoints"].spec
    [https] = group["ingress"]
    assert (https["protocol"], https["from_port"], https["to_port"]) == ("tcp", 443, 443)
    assert https["peer"] == Ref("vpc", "cidr_block")
    assert group["egress"] == ()


def test_no_interface_endpoints_no_group() -> None:
    desired = _build(interface_endpoints=[])
    assert "security_group.vpc_endpoints" not in desired
    assert [k for k in desired if k.startswith("vpc_endpoint.")] == ["vpc_endpoint.s3"]
