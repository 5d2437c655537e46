"""The one place that says what a stack is: StackConfig -> the list of desired resources.

Pure: no AWS calls. Keys, names and settings follow terraform-aws-modules/vpc 5.x for the same
inputs (name = environment), so a team moving from the module recognises every resource.
"""

from __future__ import annotations

from provisioner.blueprint.common import BlueprintInputs
from provisioner.blueprint.network import network
from provisioner.config import StackConfig
from provisioner.engine.model import Desired


def build(config: StackConfig, *, account: str, partition: str = "aws") -> list[Desired]:
    """Every desired resource of the stack described by a zone-resolved ``config``."""
    if config.subnets is None:
        raise ValueError("blueprint needs a configuration resolved to availability zones")
    inputs = BlueprintInputs(config=config, account=account, partition=partition)
    return [*network(inputs)]
