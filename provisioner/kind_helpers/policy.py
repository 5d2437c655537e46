"""IAM-style policy documents: parsing AWS's answers, semantic comparison, size checks.

AWS hands policy documents back in several shapes: a dict (boto3 decodes IAM's URL-encoded JSON
for most IAM reads), a URL-encoded JSON string (IAM calls boto3 does not decode), or a plain JSON
string (S3 GetBucketPolicy). AWS also keeps the order and the scalar-or-list form exactly as sent,
while a human editing it in the console may reorder. Comparing normalised documents means only a
change of meaning causes an update.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Mapping
from typing import Any

#: Statement keys whose value may be a single string or a list with the same meaning.
_LIST_KEYS = ("Action", "NotAction", "Resource", "NotResource")
_WHITESPACE = re.compile(r"\s+")


def parse_policy(document: Any) -> dict[str, Any] | None:
    """A policy as a dict, whatever form AWS returned it in (None for no policy)."""
    if document is None or document == "":
        return None
    if isinstance(document, Mapping):
        return dict(document)
    text = str(document)
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError:
        # IAM returns documents URL-encoded ("%7B%22Version%22..."); boto3 decodes only some.
        parsed = json.loads(urllib.parse.unquote(text))
    if not isinstance(parsed, dict):
        raise ValueError("a policy document must be a JSON object")
    return parsed


def _as_sorted_list(value: Any) -> list[Any]:
    items = value if isinstance(value, list | tuple) else [value]
    return sorted({_scalar(v) for v in items}, key=str)


def _scalar(value: Any) -> Any:
    # IAM compares condition values as strings: True and "true" mean the same.
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return value


def _principal(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _as_sorted_list(v) for k, v in sorted(value.items())}
    return value


def _condition(value: Any) -> Any:
    if not isinstance(value, Mapping):
        return value
    return {
        op: {k: _as_sorted_list(v) for k, v in sorted(dict(block).items())}
        for op, block in sorted(value.items())
    }


def _statement(stmt: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in stmt.items():
        if key in _LIST_KEYS:
            out[key] = _as_sorted_list(value)
        elif key in ("Principal", "NotPrincipal"):
            out[key] = _principal(value)
        elif key == "Condition":
            out[key] = _condition(value)
        else:
            out[key] = value
    return out


def normalize_policy(document: Any) -> dict[str, Any] | None:
    """A canonical form: statement order, list order and scalar-vs-list do not matter."""
    policy = parse_policy(document)
    if policy is None:
        return None
    statements = policy.get("Statement", [])
    if isinstance(statements, Mapping):
        statements = [statements]
    normal = [_statement(s) for s in statements]
    out = {k: v for k, v in policy.items() if k != "Statement"}
    out["Statement"] = sorted(normal, key=lambda s: json.dumps(s, sort_keys=True))
    return out


def same_policy(have: Any, want: Any) -> bool:
    """Whether two documents grant the same thing (in any of AWS's answer forms)."""
    try:
        return normalize_policy(have) == normalize_policy(want)
    except (ValueError, TypeError):
        return False


def policy_json(document: Mapping[str, Any]) -> str:
    """The compact JSON sent to AWS (compact so it counts as little as possible against size)."""
    return json.dumps(document, separators=(",", ":"))


def policy_size(document: Mapping[str, Any]) -> int:
    """Characters IAM counts against its size quotas: whitespace is not counted."""
    return len(_WHITESPACE.sub("", policy_json(document)))
