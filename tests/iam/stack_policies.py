"""The policies a stack's blueprint writes, with their Refs filled in as AWS would see them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from provisioner import blueprint, keys
from provisioner.blueprint.sagemaker_role import INLINE_POLICY
from provisioner.config import parse_config
from provisioner.engine.model import Ref

ACCOUNT = "123456789012"
OTHER_ACCOUNT = "210987654321"
REGION = "us-east-1"
VPC_ID = "vpc-0stack0000000001"
EC2 = f"arn:aws:ec2:{REGION}:{ACCOUNT}"


@dataclass(frozen=True)
class StackPolicies:
    bucket: str
    role_arn: str
    trust: dict[str, Any]
    training: dict[str, Any]
    bucket_policy: dict[str, Any]
    flow_role_arn: str
    flow_trust: dict[str, Any]
    flow_delivery: dict[str, Any]
    flow_group_arn: str


def _attrs(env: str) -> dict[tuple[str, str], str]:
    """What the Refs in the policies resolve to once the stack exists."""
    group = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/vpc-flow-log/{VPC_ID}"
    return {
        (keys.VPC, "id"): VPC_ID,
        (keys.SAGEMAKER_ROLE, "arn"): f"arn:aws:iam::{ACCOUNT}:role/{env}_sagemaker_execution_role",
        (keys.FLOW_LOG_ROLE, "arn"): f"arn:aws:iam::{ACCOUNT}:role/{env}-vpc-flow-logs",
        (keys.FLOW_LOG_GROUP, "arn"): group,
    }


def fill(value: Any, attrs: Mapping[tuple[str, str], str]) -> Any:
    if isinstance(value, Ref):
        return value.template.format(attrs[(value.key, value.attr)])
    if isinstance(value, Mapping):
        return {k: fill(v, attrs) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [fill(v, attrs) for v in value]
    return value


def stack_policies(tmp_path: Path, **settings: Any) -> StackPolicies:
    values = {"environment": "dev", "region": REGION, **settings}
    config = parse_config(values, base_dir=tmp_path, source="test").resolve(
        [f"{REGION}a", f"{REGION}b"]
    )
    desired = {d.key: d.spec for d in blueprint.build(config, account=ACCOUNT)}
    attrs = _attrs(config.environment)
    role, flow_role = desired[keys.SAGEMAKER_ROLE], desired[keys.FLOW_LOG_ROLE]
    [delivery] = flow_role["inline_policies"].values()
    return StackPolicies(
        bucket=desired[keys.BUCKET]["name"],
        role_arn=attrs[(keys.SAGEMAKER_ROLE, "arn")],
        trust=fill(role["assume_role_policy"], attrs),
        training=fill(role["inline_policies"][INLINE_POLICY], attrs),
        bucket_policy=fill(desired[keys.BUCKET_POLICY]["policy"], attrs),
        flow_role_arn=attrs[(keys.FLOW_LOG_ROLE, "arn")],
        flow_trust=fill(flow_role["assume_role_policy"], attrs),
        flow_delivery=fill(delivery, attrs),
        flow_group_arn=attrs[(keys.FLOW_LOG_GROUP, "arn")],
    )
