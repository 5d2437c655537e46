"""The plan after an import names each deliberate difference, and only those."""

from __future__ import annotations

from provisioner import keys
from provisioner.engine.graph import Graph
from provisioner.engine.model import Action, FieldChange, Step
from provisioner.engine.planner import Plan
from provisioner.migrate.differences import PREFIX, named, unexplained


def plan_of(*steps: Step) -> Plan:
    return Plan(tuple(steps), Graph(), (), {s.key: s for s in steps})


def update(key: str, kind: str, *fields: str, replace: bool = False) -> Step:
    changes = tuple(FieldChange(f, 1, 2, replace) for f in fields)
    return Step(key, kind, Action.REPLACE if replace else Action.UPDATE, changes)


def test_each_deliberate_change_gets_its_name() -> None:
    plan = named(
        plan_of(
            update(keys.BUCKET, "bucket", "public_access_block", "tags"),
            update(keys.FLOW_LOG_ROLE, "iam_role", "managed_policy_arns", "assume_role_policy"),
            Step(keys.TRAINING_SECURITY_GROUP, "security_group", Action.CREATE),
            update(keys.vpc_endpoint("sagemaker.api"), "vpc_endpoint", "security_group_ids"),
        )
    )
    reasons = {s.key: s.reason for s in plan.steps}
    assert reasons[keys.BUCKET] == (
        PREFIX + "all public access blocked; tags (Name, smprov's ownership tags)"
    )
    assert "becomes an inline policy" in reasons[keys.FLOW_LOG_ROLE]
    assert "aws:SourceArn" in reasons[keys.FLOW_LOG_ROLE]
    assert reasons[keys.TRAINING_SECURITY_GROUP] == PREFIX + "the training security group"
    assert "TCP 443 from the VPC" in reasons[keys.vpc_endpoint("sagemaker.api")]
    assert plan.step_by_key[keys.BUCKET].reason == reasons[keys.BUCKET]
    assert unexplained(plan) == []


def test_anything_else_is_not_explained_away() -> None:
    plan = named(
        plan_of(
            update(keys.subnet("public", "us-east-1a"), "subnet", "cidr_block", replace=True),
            update(keys.VPC, "vpc", "enable_dns_support"),
            Step(keys.nat_gateway("us-east-1b"), "nat_gateway", Action.CREATE),
            Step(keys.DB_SUBNET_GROUP, "db_subnet_group", Action.DELETE),
            update(keys.BUCKET, "bucket", "versioning"),
        )
    )
    assert unexplained(plan) == [
        (keys.subnet("public", "us-east-1a"), "replace"),
        (keys.VPC, "enable_dns_support"),
        (keys.nat_gateway("us-east-1b"), "create"),
        (keys.DB_SUBNET_GROUP, "delete"),
        (keys.BUCKET, "versioning"),
    ]
    assert all(not s.reason for s in plan.steps)
