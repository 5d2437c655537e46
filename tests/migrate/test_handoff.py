"""The hand-off: once Terraform applies it, its state holds none of the adopted stack, so a
later `terraform destroy` cannot delete it; what smprov leaves alone stays Terraform's."""

from __future__ import annotations

import json
from typing import Any

from provisioner.migrate.handoff import build_handoff
from provisioner.migrate.mapping import map_state
from provisioner.migrate.tfstate import TfResource, parse_state
from tests.migrate.seed import SEED, load_state, with_resource


def state_of(doc: dict[str, Any]) -> Any:
    return parse_state(json.dumps(doc), source="terraform.tfstate", base_dir=SEED)


def forget(resources: list[TfResource], addresses: list[str]) -> list[TfResource]:
    """What `terraform state rm ADDRESS...` (or a `removed` block) leaves in the state: a module
    address takes the module, a resource address every instance, an instance address itself."""

    def gone(r: TfResource) -> bool:
        return any(
            r.address == a
            or r.resource_address == a
            or r.module == a
            or r.module.startswith(a + ".")
            for a in addresses
        )

    return [r for r in resources if not gone(r)]


def test_the_seed_is_released_whole_by_module_and_resource_blocks() -> None:
    state = state_of(load_state())
    handoff = build_handoff(map_state(state))
    assert handoff.removed == (
        "aws_iam_role.sagemaker_execution_role",
        "aws_s3_object.folders",
        "aws_s3_object.training_data",
        "module.sagemaker_s3_bucket",
        "module.vpc",
        "module.vpc_endpoints",
    )
    assert forget(list(state.resources), list(handoff.removed)) == []
    assert handoff.state_rm == handoff.removed
    assert 'module "vpc"' in handoff.blocks
    assert 'resource "aws_iam_role" "sagemaker_execution_role"' in handoff.blocks


def test_the_file_holds_removed_blocks_that_destroy_nothing_and_the_state_rm_commands() -> None:
    text = build_handoff(map_state(state_of(load_state()))).text()
    assert text.count("removed {") == 6
    assert text.count("destroy = false") == 6
    assert "destroy = true" not in text
    assert "#   terraform state rm 'module.vpc'" in text
    assert "Terraform 1.7 or later" in text
    assert (
        "aws iam delete-policy --policy-arn arn:aws:iam::123456789012:policy/"
        "vpc-flow-log-to-cloudwatch-20261206114923758900000009"
    ) in text


def test_resources_left_alone_stay_in_terraforms_state() -> None:
    doc = with_resource(load_state(), "", "aws_instance", "bastion", {"id": "i-0abc"})
    doc = with_resource(doc, "module.vpc", "aws_network_acl", "public", {"id": "acl-0abc"})
    state = state_of(doc)
    stack_map = map_state(state)
    handoff = build_handoff(stack_map)
    # module.vpc keeps a resource Terraform still manages: it cannot leave the configuration,
    # so its handed-off resources are released one by one, by `terraform state rm` only.
    assert "module.vpc" not in handoff.removed
    assert "module.vpc.aws_subnet.public[0]" in handoff.state_rm_only
    assert "module.vpc.aws_subnet.public[0]" in handoff.state_rm
    remaining = forget(list(state.resources), list(handoff.state_rm))
    assert {r.address for r in remaining} == {
        "aws_instance.bastion",
        "module.vpc.aws_network_acl.public",
    }
    assert handoff.left_alone == ("aws_instance.bastion", "module.vpc.aws_network_acl.public")
    text = handoff.text()
    assert "#   aws_instance.bastion" in text
    assert "removed {\n  from = module.vpc\n" not in text


def test_addresses_are_quoted_for_the_shell() -> None:
    doc = with_resource(load_state(), "module.vpc", "aws_network_acl", "public", {"id": "a"})
    commands = build_handoff(map_state(state_of(doc))).commands()
    assert (
        "terraform state rm 'module.vpc_endpoints'" in commands
        and "terraform state rm 'module.vpc.aws_subnet.public[0]'" in commands
    )
