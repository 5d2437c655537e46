"""What Terraform must do to stop managing the adopted stack without destroying it.

Two ways, both written out: ``removed`` blocks with ``lifecycle { destroy = false }`` (Terraform
1.7 and later; reviewed in a plan like any change), or ``terraform state rm``. Either way, once
applied, Terraform's state no longer holds the adopted resources, so a later ``terraform
destroy`` cannot delete them. smprov never runs terraform itself.

A ``removed`` block names a whole resource block or module call (never one instance), and works
only once that block is gone from the configuration. So a module whose every resource is handed
off gets one block for the module; a module that also holds resources smprov leaves to Terraform
cannot be removed from the configuration, and its handed-off resources are listed for
``terraform state rm`` only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from provisioner.migrate.mapping import StackMap
from provisioner.migrate.tfstate import TfResource

HANDOFF_FILE = "smprov-handoff.tf"
"""Where ``smprov import --from-terraform`` writes the hand-off (beside smprov.toml)."""


@dataclass(frozen=True)
class HandOff:
    """The addresses Terraform lets go of, and the configuration blocks they come from."""

    #: ``removed`` block targets: module calls and root resource blocks, whole.
    removed: tuple[str, ...]
    #: ``terraform state rm`` arguments: the same, plus single instances where a block or module
    #: also holds resources Terraform keeps.
    state_rm: tuple[str, ...]
    #: Configuration blocks to delete (``module "vpc"``, ``resource "aws_iam_role" "x"``).
    blocks: tuple[str, ...]
    #: Handed-off resources that only ``terraform state rm`` can release, and why.
    state_rm_only: tuple[str, ...]
    #: What stays Terraform's.
    left_alone: tuple[str, ...]
    source: str
    #: What is left to do by hand once ``smprov up`` has run.
    after_up: tuple[str, ...] = ()

    def text(self) -> str:
        """The hand-off file: instructions as comments, then the ``removed`` blocks."""
        lines = [
            f"# Hand-off from Terraform to smprov, written by `smprov import --from-terraform "
            f"{self.source}`.",
            "#",
            "# smprov now manages the resources below. Terraform must stop managing them WITHOUT",
            "# destroying them, before anyone runs `terraform apply` or `terraform destroy` again:",
        ]
        step = 1
        if self.blocks:
            lines += [
                f"#   {step}. Delete these blocks from the Terraform configuration, and every "
                "reference to",
                "#      them (outputs, data sources, other resources):",
                *(f"#        {block}" for block in self.blocks),
            ]
            step += 1
        if self.removed:
            lines += [
                f"#   {step}. Put this file in the Terraform directory (Terraform 1.7 or later).",
                f"#   {step + 1}. `terraform plan` must show 0 to destroy and each resource as "
                '"will no longer',
                '#      be managed by Terraform"; then `terraform apply`. Delete this file '
                "afterwards.",
            ]
        lines += [
            "#",
            "# Or, with any Terraform version, instead of the removed blocks:",
            *(f"#   {command}" for command in self.commands()),
        ]
        if self.blocks:
            lines.append("#   then delete the blocks listed above before the next plan.")
        if self.state_rm_only:
            lines += [
                "#",
                "# Only `terraform state rm` can release these (their module or resource block",
                "# also holds resources Terraform keeps):",
                *(f"#   {address}" for address in self.state_rm_only),
            ]
        if self.left_alone:
            lines += [
                "#",
                "# Left to Terraform (smprov does not manage them):",
                *(f"#   {address}" for address in self.left_alone),
            ]
        if self.after_up:
            lines += [
                "#",
                "# Once `smprov up` has run:",
                *(f"#   {note}" for note in self.after_up),
            ]
        for target in self.removed:
            lines += [
                "",
                "removed {",
                f"  from = {target}",
                "",
                "  lifecycle {",
                "    destroy = false",
                "  }",
                "}",
            ]
        return "\n".join(lines) + "\n"

    def commands(self) -> list[str]:
        """``terraform state rm`` command lines, quoted for a POSIX shell."""
        return [f"terraform state rm {_quote(address)}" for address in self.state_rm]


def build_handoff(stack_map: StackMap) -> HandOff:
    """The hand-off for everything adopted, part of an adopted resource, or kept."""
    state = stack_map.state
    handed = {r.address for r in stack_map.handed_off()}
    removed: list[str] = []
    state_rm: list[str] = []
    blocks: list[str] = []
    only: list[str] = []
    for group, members in _groups(state.resources).items():
        mine = [r for r in members if r.address in handed]
        if not mine:
            continue
        if len(mine) == len(members):
            removed.append(group)
            state_rm.append(group)
            blocks.append(_block(group, members[0]))
        else:
            for resource in mine:
                state_rm.append(resource.address)
                only.append(resource.address)
    return HandOff(
        removed=tuple(removed),
        state_rm=tuple(state_rm),
        blocks=tuple(blocks),
        state_rm_only=tuple(only),
        left_alone=tuple(sorted(a.resource.address for a in stack_map.left_alone)),
        source=state.source,
        after_up=tuple(
            f"the module's policy {p.resource.get('name')} is detached and unused: "
            f"aws iam delete-policy --policy-arn {p.resource.get('arn')}"
            for p in stack_map.part_of
            if p.resource.type == "aws_iam_policy"
        ),
    )


def _groups(resources: Sequence[TfResource]) -> dict[str, list[TfResource]]:
    """Managed resources by what a ``removed`` block can name: the top-level module call, or
    the root module's resource block."""
    groups: dict[str, list[TfResource]] = {}
    for resource in resources:
        if resource.module:
            group = ".".join(resource.module.split(".")[:2])
        else:
            group = resource.resource_address
        groups.setdefault(group, []).append(resource)
    return groups


def _block(group: str, example: TfResource) -> str:
    if group.startswith("module."):
        return f'module "{group.split(".", 1)[1]}"'
    return f'resource "{example.type}" "{example.name}"'


def _quote(address: str) -> str:
    return "'" + address.replace("'", "'\\''") + "'"
