"""Each ``managed_policy_arns`` entry must be an existing, attachable IAM managed policy: a typo
would otherwise fail the role's attachment after the rest of the stack was made."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from provisioner.aws.concurrent import gather
from provisioner.aws.errors import has_code, to_aws_error
from provisioner.config import StackConfig

#: What the read found per ARN: the policy (GetPolicy's answer) or None when IAM has no such one.
Found = Mapping[str, Mapping[str, Any] | None]


def read(clients: Any, config: StackConfig) -> Found | None:
    """One GetPolicy per ARN, sent together (none when no managed policy is configured)."""
    arns = list(config.managed_policy_arns)
    if not arns:
        return None
    iam = clients("iam")

    def get(arn: str) -> Mapping[str, Any] | None:
        try:
            return iam.get_policy(PolicyArn=arn)["Policy"]
        except Exception as exc:
            if has_code(exc, "NoSuchEntity"):
                return None
            raise to_aws_error(exc, f"checking managed_policy_arns ({arn})") from exc

    answers = gather([lambda arn=arn: get(arn) for arn in arns], at_once=config.parallelism)
    return dict(zip(arns, answers, strict=True))


def judge(found: Found | None, config: StackConfig) -> list[str]:
    problems = []
    for arn in config.managed_policy_arns:
        policy = (found or {}).get(arn)
        if policy is None:
            problems.append(f"managed_policy_arns: {arn} does not exist")
        elif policy.get("IsAttachable") is False:
            problems.append(f"managed_policy_arns: {arn} cannot be attached to a role")
    return problems
