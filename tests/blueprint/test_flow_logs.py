"""The flow-logs part of the blueprint: the log group named after the VPC, a role only this
account's flow logs can assume, allowed to deliver to that one group, and the flow log."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from provisioner import blueprint
from provisioner.config import parse_config
from provisioner.engine.model import Ref

ACCOUNT = "123456789012"


def _build(partition: str = "aws", **settings: Any) -> dict[str, Any]:
    config = parse_config(settings, base_dir=Path.cwd(), source="test").resolve(
        ("us-east-1a", "us-east-1b")
    )
    desired = blueprint.build(config, account=ACCOUNT, partition=partition)
    return {d.key: d.spec for d in desired}


def test_log_group_named_after_the_vpc_with_the_configured_retention() -> None:
    spec = _build(flow_log_retention_days=30)["log_group.flow_logs"]
    assert spec["name"] == Ref("vpc", template="/aws/vpc-flow-log/{}")
    assert spec["retention_in_days"] == 30


def test_role_trusts_only_this_accounts_flow_logs() -> None:
    role = _build(partition="aws-us-gov")["iam_role.flow_logs"]
    assert role["name"] == "dev-vpc-flow-logs"
    [statement] = role["assume_role_policy"]["Statement"]
    assert statement["Principal"] == {"Service": "vpc-flow-logs.amazonaws.com"}
    assert statement["Action"] == "sts:AssumeRole"
    assert statement["Condition"] == {
        "StringEquals": {"aws:SourceAccount": ACCOUNT},
        "ArnLike": {"aws:SourceArn": f"arn:aws-us-gov:ec2:us-east-1:{ACCOUNT}:vpc-flow-log/*"},
    }
    assert role["managed_policy_arns"] == []


def test_role_may_only_deliver_to_its_log_group() -> None:
    role = _build()["iam_role.flow_logs"]
    [policy] = role["inline_policies"].values()
    deliver, describe = policy["Statement"]
    assert deliver["Action"] == [
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "logs:DescribeLogStreams",
    ]
    assert deliver["Resource"] == [
        Ref("log_group.flow_logs", "arn"),
        Ref("log_group.flow_logs", "arn", template="{}:*"),
    ]
    # No resource type in the Service Authorization Reference: only "*" is honoured.
    assert describe["Action"] == "logs:DescribeLogGroups"
    assert describe["Resource"] == "*"


def test_flow_log_captures_all_traffic_through_the_role() -> None:
    spec = _build(flow_log_max_aggregation_interval=600)["flow_log"]
    assert spec == {
        "resource_id": Ref("vpc"),
        "traffic_type": "ALL",
        "log_destination_type": "cloud-watch-logs",
        "log_destination": Ref("log_group.flow_logs", "arn"),
        "deliver_logs_permission_arn": Ref("iam_role.flow_logs", "arn"),
        "max_aggregation_interval": 600,
        "tags": {"smprov:stack": "dev", "smprov:key": "flow_log"},
    }
