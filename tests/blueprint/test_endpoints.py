"""The endpoints part of the blueprint, and its preflight: interface endpoint services checked
against the region's endpoint services before anything changes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from provisioner import blueprint
from provisioner.config import parse_config
from provisioner.engine.model import Ref
from provisioner.errors import ConfigError
from tests.harness import Harness

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


def _open_expecting(harness: Harness, toml: str) -> list[str]:
    harness.write_config(toml)
    with pytest.raises(ConfigError) as caught:
        harness.open()
    assert caught.value.exit_code == 2
    assert harness.log.mutating == []
    return caught.value.problems


def test_preflight_names_every_unknown_service(harness: Harness) -> None:
    problems = _open_expecting(
        harness, 'interface_endpoints = ["sagemaker.api", "sagemaker.bogus", "nope"]\n'
    )
    assert problems == [
        "interface_endpoints: 'sagemaker.bogus' is not an endpoint service in us-east-1 "
        "(no com.amazonaws.us-east-1.sagemaker.bogus)",
        "interface_endpoints: 'nope' is not an endpoint service in us-east-1 "
        "(no com.amazonaws.us-east-1.nope)",
    ]


def test_preflight_checks_type_zones_and_private_dns(harness: Harness) -> None:
    def narrow(parsed: dict[str, Any], **_: Any) -> None:
        # Shapes AWS returns and moto's catalogue lacks for these services.
        for detail in parsed.get("ServiceDetails", []):
            if detail["ServiceName"].endswith(".sts"):
                detail["ServiceType"] = [{"ServiceType": "Gateway"}]
            if detail["ServiceName"].endswith(".sagemaker.runtime"):
                detail["AvailabilityZones"] = ["us-east-1a"]
            if detail["ServiceName"].endswith(".logs"):
                detail.pop("PrivateDnsName", None)

    harness.clients.add_hook("after-call.ec2.DescribeVpcEndpointServices", narrow)
    problems = _open_expecting(
        harness, 'interface_endpoints = ["sagemaker.api", "sagemaker.runtime", "sts", "logs"]\n'
    )
    assert problems == [
        "interface_endpoints: 'sagemaker.runtime' is not offered in us-east-1b",
        "interface_endpoints: 'sts' has no interface endpoint in us-east-1 (gateway only)",
        "interface_endpoints: 'logs' has no private DNS name, and smprov enables private DNS",
    ]


def test_preflight_makes_one_call_when_all_is_well(harness: Harness) -> None:
    harness.open()
    assert harness.log.count("DescribeVpcEndpointServices") == 1
