"""The VPC's default security group, default network ACL and main route table brought under
management as terraform-aws-modules/vpc 5.x does (manage_default_* = true), and the security group
for SageMaker training jobs."""

from __future__ import annotations

from collections.abc import Iterator

from provisioner.blueprint.common import BlueprintInputs
from provisioner.engine.model import Desired, Ref
from provisioner.kinds.base import STACK_TAG
from provisioner.kinds.default_network_acl import entry
from provisioner.kinds.security_group_rules import SELF, rule

TRAINING_GROUP = "security_group.training"
ANYWHERE = "0.0.0.0/0"


def default_tags(inputs: BlueprintInputs, key: str) -> dict[str, str]:
    """``<env>-default``, without the ``smprov:stack`` tag: see kinds/vpc_default.py."""
    tags = inputs.tags(key, f"{inputs.env}-default")
    del tags[STACK_TAG]
    return tags


def security(inputs: BlueprintInputs) -> Iterator[Desired]:
    env = inputs.env
    yield Desired(
        "default_security_group",
        "default_security_group",
        # No rule at all (CIS AWS Foundations 5.4): the module's default too.
        {
            "vpc_id": Ref("vpc"),
            "ingress": (),
            "egress": (),
            "tags": default_tags(inputs, "default_security_group"),
        },
    )
    yield Desired(
        "default_network_acl",
        "default_network_acl",
        # Exactly what AWS creates (plus its fixed catch-all deny): the subnets use it.
        {
            "vpc_id": Ref("vpc"),
            "ingress": (entry(100, "allow", ANYWHERE),),
            "egress": (entry(100, "allow", ANYWHERE),),
            "tags": default_tags(inputs, "default_network_acl"),
        },
    )
    yield Desired(
        "main_route_table",
        "main_route_table",
        {"vpc_id": Ref("vpc"), "tags": default_tags(inputs, "main_route_table")},
    )
    name = f"{env}-sagemaker-training"
    yield Desired(
        TRAINING_GROUP,
        "security_group",
        {
            "vpc_id": Ref("vpc"),
            "name": name,
            "description": f"SageMaker training jobs of {env}: all traffic between members",
            # Distributed training talks between its instances on any port; nothing else in.
            "ingress": (rule("-1", SELF, "All traffic between training instances"),),
            # The rule AWS gives every new group (no description), so creation changes nothing.
            "egress": (rule("-1", ANYWHERE, ""),),
            "tags": inputs.tags(TRAINING_GROUP, name),
        },
    )
