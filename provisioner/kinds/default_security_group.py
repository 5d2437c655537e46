"""The VPC's default security group, stripped of every rule (CIS AWS Foundations 5.4).

Anything that lands in the default group by accident (an ENI created without a group) then has
no access at all. AWS's default group holds a self-referencing allow-all ingress rule and an
allow-all egress rule. The rules are read as they are, and only those present are revoked (no
call for a rule already gone).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from provisioner.engine.contract import Ctx
from provisioner.engine.model import Live
from provisioner.kind_helpers.security_group_rules import apply_rules, group_live
from provisioner.kind_helpers.vpc_default import VpcDefault, default_grants


class DefaultSecurityGroup(VpcDefault):
    name = "default_security_group"
    label = "default security group"
    grants = default_grants(
        reads=("DescribeSecurityGroups",),
        changes=("RevokeSecurityGroupEgress", "RevokeSecurityGroupIngress"),
    )
    describe = "describe_security_groups"
    result_key = "SecurityGroups"
    id_field = "GroupId"
    id_filter = "group-id"
    default_filter = {"Name": "group-name", "Values": ["default"]}
    unordered = frozenset({"ingress", "egress"})

    def to_live(self, raw: Mapping[str, Any]) -> Live:
        return group_live(raw)

    def reconcile(self, ctx: Ctx, live: Live, spec: Mapping[str, Any], fields: set[str]) -> Live:
        return apply_rules(ctx, live, spec, fields)
