"""The interface-endpoint preflight: every configured service checked against the region's
endpoint services before anything changes, all problems at once."""

from __future__ import annotations

from typing import Any

import pytest

from provisioner.errors import ConfigError
from tests.harness import Harness


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
