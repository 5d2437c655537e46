"""VPC flow logs: a CloudWatch Logs group, the IAM role the flow-logs service delivers through,
and the flow log itself (traffic ALL), as terraform-aws-modules/vpc 5.x makes them, with the
role's trust scoped to this account's flow logs and its permissions to this one log group."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from provisioner import keys
from provisioner.blueprint.common import BlueprintInputs, attr_of, id_of
from provisioner.config import StackConfig
from provisioner.engine.model import Desired, Ref

#: The module's name for the group, with the VPC id (there is one flow log per VPC).
LOG_GROUP_NAME = "/aws/vpc-flow-log/{}"
SERVICE = "vpc-flow-logs.amazonaws.com"


def trust_policy(inputs: BlueprintInputs) -> dict[str, Any]:
    """Only the flow-logs service, and only for flow logs of this account and region
    (aws:SourceAccount / aws:SourceArn: the confused-deputy guard the module leaves out)."""
    flow_logs = f"arn:{inputs.partition}:ec2:{inputs.region}:{inputs.account}:vpc-flow-log/*"
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AWSVPCFlowLogsAssumeRole",
                "Effect": "Allow",
                "Principal": {"Service": SERVICE},
                "Action": "sts:AssumeRole",
                "Condition": {
                    "StringEquals": {"aws:SourceAccount": inputs.account},
                    "ArnLike": {"aws:SourceArn": flow_logs},
                },
            }
        ],
    }


def delivery_policy(inputs: BlueprintInputs) -> dict[str, Any]:
    """What delivery needs, on this log group only (the module grants these on "*").

    CreateLogStream, PutLogEvents and DescribeLogStreams act on the group and its streams
    (``<group arn>:*`` covers ``:log-stream:<name>``). DescribeLogGroups has no resource type
    in the Service Authorization Reference (it lists groups), so it needs ``"*"``.
    """
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DeliverToTheFlowLogGroup",
                "Effect": "Allow",
                "Action": [
                    "logs:CreateLogStream",
                    "logs:PutLogEvents",
                    "logs:DescribeLogStreams",
                ],
                "Resource": [
                    Ref(keys.FLOW_LOG_GROUP, "arn"),
                    Ref(keys.FLOW_LOG_GROUP, "arn", template="{}:*"),
                ],
            },
            {
                "Sid": "FindTheFlowLogGroup",
                "Effect": "Allow",
                "Action": "logs:DescribeLogGroups",
                "Resource": "*",
            },
        ],
    }


def role_name_of(config: StackConfig) -> str:
    """``flow_log_role_name`` (a role made by Terraform keeps its name), else
    ``<env>-vpc-flow-logs``."""
    return config.flow_log_role_name or f"{config.environment}-vpc-flow-logs"


def flow_logs(inputs: BlueprintInputs) -> Iterator[Desired]:
    cfg = inputs.config
    role_name = role_name_of(cfg)
    yield Desired(
        keys.FLOW_LOG_GROUP,
        "log_group",
        {
            "name": Ref(keys.VPC, template=LOG_GROUP_NAME),
            "retention_in_days": cfg.flow_log_retention_days,
            "tags": inputs.tags(keys.FLOW_LOG_GROUP),
        },
    )
    yield Desired(
        keys.FLOW_LOG_ROLE,
        "iam_role",
        {
            "name": role_name,
            "path": "/",
            "description": f"Lets VPC flow logs of {inputs.env} deliver to their log group",
            "assume_role_policy": trust_policy(inputs),
            "inline_policies": {"deliver-to-cloudwatch-logs": delivery_policy(inputs)},
            "managed_policy_arns": [],
            "max_session_duration": 3600,
            "tags": inputs.tags(keys.FLOW_LOG_ROLE, role_name),
        },
    )
    yield Desired(
        keys.FLOW_LOG,
        "flow_log",
        {
            "resource_id": Ref(keys.VPC),
            "traffic_type": "ALL",
            "log_destination_type": "cloud-watch-logs",
            "log_destination": Ref(keys.FLOW_LOG_GROUP, "arn"),
            "deliver_logs_permission_arn": Ref(keys.FLOW_LOG_ROLE, "arn"),
            "max_aggregation_interval": cfg.flow_log_max_aggregation_interval,
            "tags": inputs.tags(keys.FLOW_LOG),
        },
    )


def outputs(resources: Mapping[str, Any], config: StackConfig) -> dict[str, Any]:
    return {
        "vpc_flow_log_id": id_of(resources, keys.FLOW_LOG),
        "vpc_flow_log_group_name": id_of(resources, keys.FLOW_LOG_GROUP),
        "vpc_flow_log_cloudwatch_iam_role_arn": attr_of(resources, keys.FLOW_LOG_ROLE, "arn"),
    }
