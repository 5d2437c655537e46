"""An offline IAM policy evaluator: does IAM allow this request under these policies?

moto evaluates no identity policy and gets bucket-policy conditions wrong, so nothing in the
emulator can tell whether a policy smprov writes (or prints) works on AWS. This module follows
AWS's documented evaluation logic for one account:

- "Policy evaluation logic" (IAM User Guide, reference_policies_evaluation-logic): an explicit
  Deny in any policy wins; otherwise the request is allowed if an identity policy or a
  resource-based policy allows it; otherwise it is implicitly denied. A request naming several
  resources is allowed only if every resource is (IAM authorizes each one).
- "IAM JSON policy elements": Action/NotAction (case-insensitive, ``*`` and ``?`` wildcards),
  Resource/NotResource (case-sensitive wildcards), Principal/NotPrincipal, Condition.
- "Condition operators": String*, Arn*, Bool and Null; ``...IfExists``; the ``ForAnyValue:`` and
  ``ForAllValues:`` set operators. Several values of one key are ORed, several keys and
  operators are ANDed. A key missing from the request context fails a positive operator and
  satisfies a negated one (StringNotEquals, ArnNotLike, ...); IfExists makes a missing key pass.
  ForAnyValue over a missing key is false, ForAllValues over a missing or empty key is true.

Why not a library: principalmapper's local simulator (the only Python one that evaluates
conditions) has had no release since 2022 and pulls in pydot; policyuniverse and parliament parse
and lint but do not decide a request. Anything this evaluator does not model (policy variables,
numeric/date/IP operators) raises instead of guessing.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

Context = Mapping[str, str | Sequence[str]]


class Decision(enum.Enum):
    ALLOW = "allow"
    EXPLICIT_DENY = "explicit deny"
    IMPLICIT_DENY = "implicit deny"


@dataclass(frozen=True)
class Resource:
    """One resource of a request, with the condition keys IAM puts in its context."""

    arn: str
    context: Context = field(default_factory=dict)


@dataclass(frozen=True)
class Request:
    """``action`` (``service:Name``) by ``principal`` on every one of ``resources``."""

    action: str
    resources: tuple[Resource, ...]
    #: The caller: an IAM or STS ARN, or a service (``sagemaker.amazonaws.com``).
    principal: str = "arn:aws:iam::123456789012:role/caller"

    @property
    def principal_account(self) -> str | None:
        parts = self.principal.split(":")
        return parts[4] if self.principal.startswith("arn:") and len(parts) > 4 else None


class Unsupported(Exception):
    """The policy uses something this evaluator does not model; never guessed."""


def evaluate(
    request: Request,
    identity: Iterable[Mapping[str, Any]] = (),
    resource_policy: Mapping[str, Any] | None = None,
) -> Decision:
    """The decision for ``request`` under the caller's identity policies and, optionally, the
    resource-based policy of the resource (bucket policy, trust policy), same account."""
    identity = list(identity)
    decisions = [_one(request, res, identity, resource_policy) for res in request.resources]
    if not decisions:
        raise ValueError(f"{request.action}: a request names at least one resource")
    if Decision.EXPLICIT_DENY in decisions:
        return Decision.EXPLICIT_DENY
    if Decision.IMPLICIT_DENY in decisions:
        return Decision.IMPLICIT_DENY
    return Decision.ALLOW


def _one(
    request: Request,
    resource: Resource,
    identity: Sequence[Mapping[str, Any]],
    resource_policy: Mapping[str, Any] | None,
) -> Decision:
    effects = [
        s["Effect"]
        for policy in identity
        for s in _statements(policy)
        if _applies(s, request, resource, resource_based=False)
    ]
    if resource_policy is not None:
        effects += [
            s["Effect"]
            for s in _statements(resource_policy)
            if _applies(s, request, resource, resource_based=True)
        ]
    if "Deny" in effects:
        return Decision.EXPLICIT_DENY
    return Decision.ALLOW if "Allow" in effects else Decision.IMPLICIT_DENY


def _statements(policy: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    if policy.get("Version") != "2012-10-17":
        # Without it, ${...} is literal text and newer features are off: smprov always sets it.
        raise Unsupported(f"policy Version {policy.get('Version')!r}, expected 2012-10-17")
    statements = policy["Statement"]
    return [statements] if isinstance(statements, Mapping) else list(statements)


def _listed(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def _applies(
    statement: Mapping[str, Any], request: Request, resource: Resource, *, resource_based: bool
) -> bool:
    if statement["Effect"] not in ("Allow", "Deny"):
        raise Unsupported(f"Effect {statement['Effect']!r}")
    if resource_based != ("Principal" in statement or "NotPrincipal" in statement):
        raise Unsupported("Principal belongs in resource-based policies, and only there")
    if resource_based and not _principal_matches(statement, request):
        return False
    if not _element_matches(statement, "Action", request.action, _action_match):
        return False
    if "Resource" in statement or "NotResource" in statement:
        if not _element_matches(statement, "Resource", resource.arn, _resource_match):
            return False
    elif not resource_based:
        raise Unsupported("an identity policy statement needs Resource or NotResource")
    return _conditions_hold(statement.get("Condition", {}), resource.context)


def _element_matches(statement: Mapping[str, Any], name: str, value: str, match: Any) -> bool:
    if name in statement:
        return any(match(pattern, value) for pattern in _listed(statement[name]))
    return not any(match(pattern, value) for pattern in _listed(statement["Not" + name]))


def _wildcard(pattern: str, value: str, *, ignore_case: bool) -> bool:
    if "${" in pattern:
        raise Unsupported(f"policy variable in {pattern!r}")
    regex = "".join(".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in pattern)
    return re.fullmatch(regex, value, re.DOTALL | (re.IGNORECASE if ignore_case else 0)) is not None


def _action_match(pattern: str, action: str) -> bool:
    return _wildcard(pattern, action, ignore_case=True)


def _resource_match(pattern: str, arn: str) -> bool:
    return _arn_like(pattern, arn)


def _arn_like(pattern: str, arn: str) -> bool:
    """ARN matching: each of the six colon-separated parts on its own (the last one keeps its
    colons), wildcards within a part."""
    if pattern == "*":
        return True
    ours, theirs = pattern.split(":", 5), arn.split(":", 5)
    if len(ours) != 6 or len(theirs) != 6:
        return _wildcard(pattern, arn, ignore_case=False)
    return all(_wildcard(p, v, ignore_case=False) for p, v in zip(ours, theirs, strict=True))


def _principal_matches(statement: Mapping[str, Any], request: Request) -> bool:
    if "Principal" in statement:
        return _principal_in(statement["Principal"], request)
    return not _principal_in(statement["NotPrincipal"], request)


def _principal_in(principal: Any, request: Request) -> bool:
    if principal == "*":
        return True
    for kind, values in principal.items():
        for value in _listed(values):
            if kind == "Service" and value == request.principal:
                return True
            if kind == "AWS" and _aws_principal_matches(value, request):
                return True
            if kind not in ("Service", "AWS"):
                raise Unsupported(f"principal type {kind!r}")
    return False


def _aws_principal_matches(value: str, request: Request) -> bool:
    if value == "*":
        return True
    account = request.principal_account
    # An account (its id or its root ARN) stands for every principal of that account.
    if account is not None and value in (account, f"arn:aws:iam::{account}:root"):
        return True
    if value == request.principal:
        return True
    # A role principal covers its sessions: arn:aws:sts::A:assumed-role/NAME/SESSION.
    role = re.fullmatch(r"arn:([\w-]+):iam::(\d{12}):role/(?:.*/)?([\w+=,.@-]+)", value)
    session = re.fullmatch(
        r"arn:([\w-]+):sts::(\d{12}):assumed-role/([\w+=,.@-]+)/.+", request.principal
    )
    return bool(role and session and role.groups() == session.groups())


_OPERATOR = re.compile(
    r"^(?:(?P<set>ForAnyValue|ForAllValues):)?(?P<op>[A-Za-z]+?)(?P<ifexists>IfExists)?$"
)
_NEGATED = {"StringNotEquals", "StringNotEqualsIgnoreCase", "StringNotLike", "ArnNotEquals",
            "ArnNotLike"}  # fmt: skip


def _conditions_hold(conditions: Mapping[str, Mapping[str, Any]], context: Context) -> bool:
    lowered = {k.lower(): v for k, v in context.items()}  # condition key names ignore case
    for operator, block in conditions.items():
        match = _OPERATOR.match(operator)
        if match is None:
            raise Unsupported(f"condition operator {operator!r}")
        for key, wanted in block.items():
            if not _condition(match, key, _listed(wanted), lowered.get(key.lower())):
                return False
    return True


def _condition(match: re.Match[str], key: str, wanted: list[str], present: Any) -> bool:
    op, set_op, if_exists = match["op"], match["set"], bool(match["ifexists"])
    if op == "Null":
        return (present is None) == (wanted[0].lower() == "true")
    if present is None:
        if set_op == "ForAllValues":
            return True
        if set_op == "ForAnyValue":
            return False
        return if_exists or op in _NEGATED
    values = [present] if isinstance(present, str) else list(present)
    if set_op is None:
        if not isinstance(present, str):
            raise Unsupported(f"{key} is multivalued: use ForAnyValue/ForAllValues with {op}")
        return _single(op, values[0], wanted)
    results = [_single(op, value, wanted) for value in values]
    return any(results) if set_op == "ForAnyValue" else all(results)


def _single(op: str, value: str, wanted: list[str]) -> bool:
    """One context value against the policy's values (ORed); negated operators are NOT(any)."""
    positive = op.replace("Not", "", 1) if op in _NEGATED else op
    if positive == "StringEquals":
        hit = value in wanted
    elif positive == "StringEqualsIgnoreCase":
        hit = value.lower() in {w.lower() for w in wanted}
    elif positive == "StringLike":
        hit = any(_wildcard(w, value, ignore_case=False) for w in wanted)
    elif positive in ("ArnEquals", "ArnLike"):  # the same in IAM: wildcards per ARN part
        hit = any(_arn_like(w, value) for w in wanted)
    elif positive == "Bool":
        hit = value.lower() in {str(w).lower() for w in wanted}
    else:
        raise Unsupported(f"condition operator {op!r}")
    return not hit if op in _NEGATED else hit
