"""The VPC's default security group, default network ACL and main route table brought under
management as terraform-aws-modules/vpc 5.x does (manage_default_* = true), and the security group
for SageMaker training jobs."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from provisioner import keys
from provisioner.blueprint.common import BlueprintInputs, id_of
from provisioner.config import StackConfig
from provisioner.engine.contract import STACK_TAG
from provisioner.engine.model import Desired, Ref
from provisioner.kind_helpers.security_group_rules import SELF, rule
from provisioner.kinds.default_network_acl import entry

ANYWHERE = "0.0.0.0/0"
#: The output naming the training jobs' security group (`output --format sagemaker` uses it).
TRAINING_GROUP_OUTPUT = "training_security_group_id"


def default_tags(inputs: BlueprintInputs, key: str) -> dict[str, str]:
    """``<env>-default``, without the ``smprov:stack`` tag: see kind_helpers/vpc_default.py."""
    tags = inputs.tags(key, f"{inputs.env}-default")
    del tags[STACK_TAG]
    return tags


def security(inputs: BlueprintInputs) -> Iterator[Desired]:
    env = inputs.env
    yield Desired(
        keys.DEFAULT_SECURITY_GROUP,
        "default_security_group",
        # No rule at all (CIS AWS Foundations 5.4): the module's default too.
        {
            "vpc_id": Ref(keys.VPC),
            "ingress": (),
            "egress": (),
            "tags": default_tags(inputs, keys.DEFAULT_SECURITY_GROUP),
        },
    )
    yield Desired(
        keys.DEFAULT_NETWORK_ACL,
        "default_network_acl",
        # Exactly what AWS creates (plus its fixed catch-all deny): the subnets use it.
        {
            "vpc_id": Ref(keys.VPC),
            "ingress": (entry(100, "allow", ANYWHERE),),
            "egress": (entry(100, "allow", ANYWHERE),),
            "tags": default_tags(inputs, keys.DEFAULT_NETWORK_ACL),
        },
    )
    yield Desired(
        keys.MAIN_ROUTE_TABLE,
        "main_route_table",
        {"vpc_id": Ref(keys.VPC), "tags": default_tags(inputs, keys.MAIN_ROUTE_TABLE)},
    )
    name = f"{env}-sagemaker-training"
    yield Desired(
        keys.TRAINING_SECURITY_GROUP,
        "security_group",
        {
            "vpc_id": Ref(keys.VPC),
            "name": name,
            "description": f"SageMaker training jobs of {env}: all traffic between members",
            # Distributed training talks between its instances on any port; nothing else in.
            "ingress": (rule("-1", SELF, "All traffic between training instances"),),
            # The rule AWS gives every new group (no description), so creation changes nothing.
            "egress": (rule("-1", ANYWHERE, ""),),
            "tags": inputs.tags(keys.TRAINING_SECURITY_GROUP, name),
        },
    )


def outputs(resources: Mapping[str, Any], config: StackConfig) -> dict[str, Any]:
    return {
        TRAINING_GROUP_OUTPUT: id_of(resources, keys.TRAINING_SECURITY_GROUP),
        "default_security_group_id": id_of(resources, keys.DEFAULT_SECURITY_GROUP),
    }
