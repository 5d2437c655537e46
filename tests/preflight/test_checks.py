"""Every configuration problem in one report: the file's own problems, the zone names and the
AWS-side checks of the keys that are valid, exit 2, before any change."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import EndpointConnectionError

from provisioner import preflight
from provisioner.errors import ConfigError
from tests.harness import Harness

MIXED = """\
flow_log_retention_days = 8
availability_zones = ["us-east-1a", "us-east-1z"]
interface_endpoints = ["sagemaker.api", "sagemaker.bogus"]
managed_policy_arns = ["arn:aws:iam::aws:policy/NoSuchPolicyAtAll"]
"""


def test_file_zone_and_aws_problems_are_reported_together(harness: Harness) -> None:
    harness.write_config(MIXED)
    with pytest.raises(ConfigError) as caught:
        harness.open()
    problems = caught.value.problems
    assert caught.value.exit_code == 2
    assert [p.split(":", 1)[0] for p in problems] == [
        "flow_log_retention_days",
        "availability_zones",
        "interface_endpoints",
        "managed_policy_arns",
    ]
    assert "'us-east-1z' is not an availability zone of us-east-1" in problems[1]
    assert "'sagemaker.bogus' is not an endpoint service" in problems[2]
    assert harness.log.mutating == []


def test_an_invalid_key_is_not_checked_against_aws(harness: Harness) -> None:
    harness.write_config('interface_endpoints = ["com.amazonaws.us-east-1.sagemaker.api"]\n')
    with pytest.raises(ConfigError) as caught:
        harness.open()
    assert len(caught.value.problems) == 1
    assert harness.log.count("DescribeVpcEndpointServices") == 0


def test_when_aws_cannot_be_asked_the_file_problems_are_reported(harness: Harness) -> None:
    def unreachable(**_: Any) -> None:
        raise EndpointConnectionError(endpoint_url="http://127.0.0.1:1")

    harness.clients.add_hook("before-send.sts.*", unreachable)
    harness.write_config(MIXED)
    with pytest.raises(ConfigError) as caught:
        harness.open()
    assert [p.split(":", 1)[0] for p in caught.value.problems] == ["flow_log_retention_days"]


def test_a_teardown_reports_the_file_problems_without_asking_aws(harness: Harness) -> None:
    harness.write_config(MIXED)
    with pytest.raises(ConfigError) as caught:
        harness.open(preflight=False)
    assert [p.split(":", 1)[0] for p in caught.value.problems] == ["flow_log_retention_days"]
    assert harness.log.calls == []


def test_checks_judging_an_invalid_key_are_skipped() -> None:
    keys = {key for check in preflight.applicable({"managed_policy_arns"}) for key in check.keys}
    assert "managed_policy_arns" not in keys
    assert "interface_endpoints" in keys
    assert preflight.applicable({"region"}) == [
        c for c in preflight.CHECKS if "region" not in c.keys
    ]
