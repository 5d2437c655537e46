"""Security groups smprov creates (the endpoints' group, the training jobs' group).

Rules are reconciled exactly, both directions: a rule added out of band is drift and is revoked.
The name and description cannot change in AWS, so they force a replacement.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from provisioner.aws.errors import has_code
from provisioner.aws.tags import tag_specs
from provisioner.engine.contract import Ctx
from provisioner.engine.model import FieldChange, Live
from provisioner.kind_helpers.ec2 import Ec2Kind, delete_with_dependency_retry, ec2_grants
from provisioner.kind_helpers.security_group_rules import apply_rules, group_live, rule

NOT_FOUND = ("InvalidGroup.NotFound", "InvalidGroupId.NotFound")
# What AWS puts in every new VPC security group (CreateSecurityGroup docs): allow all egress.
AWS_DEFAULT_EGRESS = [rule("-1", "0.0.0.0/0", "")]


class SecurityGroup(Ec2Kind):
    name = "security_group"
    label = "security group"
    grants = ec2_grants(
        reads=("DescribeSecurityGroups", "DescribeNetworkInterfaces"),
        creates={"CreateSecurityGroup": "security-group"},
        changes=(
            "AuthorizeSecurityGroupEgress",
            "AuthorizeSecurityGroupIngress",
            "UpdateSecurityGroupRuleDescriptionsEgress",
            "UpdateSecurityGroupRuleDescriptionsIngress",
            "RevokeSecurityGroupEgress",
            "RevokeSecurityGroupIngress",
            "DeleteSecurityGroup",
        ),
    )
    describe = "describe_security_groups"
    result_key = "SecurityGroups"
    id_field = "GroupId"
    id_filter = "group-id"
    replace_on = frozenset({"vpc_id", "name", "description"})
    unordered = frozenset({"ingress", "egress"})

    def to_live(self, raw: Mapping[str, Any]) -> Live:
        return group_live(raw)

    def create(self, ctx: Ctx, key: str, spec: Mapping[str, Any], token: str) -> Live:
        ec2 = ctx.client("ec2")
        try:
            group_id = ctx.retry(
                lambda: ec2.create_security_group(
                    GroupName=spec["name"],
                    Description=spec["description"],
                    VpcId=spec["vpc_id"],
                    TagSpecifications=tag_specs("security-group", spec["tags"]),
                )["GroupId"],
                codes=("InvalidVpcID.NotFound",),
                what=f"creating security group {spec['name']}",
            )
        except Exception as exc:
            if not has_code(exc, "InvalidGroup.Duplicate"):
                raise
            # A lost answer's group is ours: adopt it and bring its rules to the spec.
            live = self.to_live(self.adopt_on_conflict(ctx, key, exc))
            return self.update(ctx, live, spec, self.diff(live, spec))
        live = Live(
            group_id,
            {
                "vpc_id": spec["vpc_id"],
                "name": spec["name"],
                "description": spec["description"],
                "ingress": [],
                "egress": AWS_DEFAULT_EGRESS,
                "tags": dict(spec["tags"]),
            },
        )
        changes = [c for c in self.diff(live, spec) if c.path in ("ingress", "egress")]
        return self.update(ctx, live, spec, changes) if changes else live

    def update(
        self, ctx: Ctx, live: Live, spec: Mapping[str, Any], changes: Sequence[FieldChange]
    ) -> Live:
        fields = {c.path for c in changes}
        live = apply_rules(ctx, live, spec, fields)
        if "tags" in fields:
            live = self.retag(ctx, live, spec["tags"])
        return live

    def delete(self, ctx: Ctx, live: Live) -> None:
        ec2 = ctx.client("ec2")
        delete_with_dependency_retry(
            ctx,
            lambda: ec2.delete_security_group(GroupId=live.id),
            what=f"security group {live.id}",
            not_found=NOT_FOUND,
            eni_filter=("group-id", live.id),
        )
