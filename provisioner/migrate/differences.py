"""After an import from Terraform, the plan names each deliberate difference smprov makes.

The import keeps every name and setting of the Terraform stack that AWS cannot change in place,
so the first plan holds only what smprov does on purpose differently from the modules: all
public access blocked, a TLS-only bucket policy, a least-privilege SageMaker role policy,
confused-deputy conditions on both roles, the flow-log role's managed policy made inline, the
endpoints' own security group and the training one, the VPC's defaults as smprov keeps them, and
its tags. Each change is labelled with its reason; :func:`unexplained` lists any that is not one
of these (the tests hold it empty for the seed stack).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable

from provisioner import keys
from provisioner.engine.model import Action, Step
from provisioner.engine.planner import Plan

IMPORT_MARK = "imported_from"
"""State ``data`` recording that the stack was adopted from Terraform (value: ``terraform``)."""

PREFIX = "deliberate difference from the Terraform setup: "

#: (applies to a step and one of its changed fields, what it is called). ``None`` as field: the
#: step's creation.
Rule = tuple[Callable[[Step, str | None], bool], str]


def _field(key: str | None, kind: str | None, *fields: str) -> Callable[[Step, str | None], bool]:
    def matches(step: Step, field: str | None) -> bool:
        return (
            (key is None or step.key == key)
            and (kind is None or step.kind == kind)
            and field in fields
        )

    return matches


def _created(key: str) -> Callable[[Step, str | None], bool]:
    return lambda step, field: step.key == key and field is None


RULES: tuple[Rule, ...] = (
    (_field(keys.BUCKET, None, "public_access_block"), "all public access blocked"),
    (_field(keys.BUCKET_POLICY, None, "policy"), "TLS-only bucket policy (aws:SecureTransport)"),
    (_created(keys.BUCKET_POLICY), "TLS-only bucket policy (aws:SecureTransport)"),
    (
        _field(keys.SAGEMAKER_ROLE, None, "inline_policies"),
        "the SageMaker role's least-privilege policy",
    ),
    (
        _field(keys.SAGEMAKER_ROLE, None, "assume_role_policy"),
        "confused-deputy condition on the SageMaker role's trust (aws:SourceAccount)",
    ),
    (
        _field(keys.FLOW_LOG_ROLE, None, "assume_role_policy"),
        "confused-deputy conditions on the flow-log role's trust (aws:SourceAccount, "
        "aws:SourceArn)",
    ),
    (
        _field(keys.FLOW_LOG_ROLE, None, "inline_policies", "managed_policy_arns"),
        "the module's customer-managed flow-log policy becomes an inline policy on this log "
        "group only (the managed policy is detached and left in the account)",
    ),
    (
        _created(keys.ENDPOINT_SECURITY_GROUP),
        "the interface endpoints' own security group (TCP 443 from the VPC)",
    ),
    (
        _field(None, "vpc_endpoint", "security_group_ids"),
        "the interface endpoints' own security group (TCP 443 from the VPC)",
    ),
    (_created(keys.TRAINING_SECURITY_GROUP), "the training security group"),
    (
        _field(keys.DEFAULT_SECURITY_GROUP, None, "ingress", "egress"),
        "the default security group locked down (no rules)",
    ),
    (
        _field(keys.DEFAULT_NETWORK_ACL, None, "ingress", "egress"),
        "the default network ACL holds only AWS's own IPv4 entries (the module adds IPv6 "
        "allow-all entries; the VPC has no IPv6)",
    ),
    (_field(None, None, "tags"), "tags (Name, smprov's ownership tags)"),
    (_field(None, "iam_role", "description"), "the role's description"),
)


def _label(step: Step, field: str | None) -> str | None:
    return next((label for matches, label in RULES if matches(step, field)), None)


def _fields(step: Step) -> Iterable[str | None]:
    if step.action is Action.CREATE:
        return [None]
    return [change.path for change in step.changes]


def named(plan: Plan) -> Plan:
    """The plan with every deliberate difference's reason on its step."""
    steps = []
    for step in plan.steps:
        labels: list[str] = []
        for field in _fields(step):
            label = _label(step, field)
            if label is not None and label not in labels:
                labels.append(label)
        if labels and step.action in (Action.CREATE, Action.UPDATE):
            reason = PREFIX + "; ".join(labels)
            step = dataclasses.replace(step, reason=reason)
        steps.append(step)
    return dataclasses.replace(plan, steps=tuple(steps), step_by_key={s.key: s for s in steps})


def unexplained(plan: Plan) -> list[tuple[str, str]]:
    """(key, field or action) of each change that is not a deliberate difference."""
    out: list[tuple[str, str]] = []
    for step in plan.changes:
        if step.action not in (Action.CREATE, Action.UPDATE):
            out.append((step.key, step.action.value))
            continue
        out += [
            (step.key, field or "create") for field in _fields(step) if _label(step, field) is None
        ]
    return out
