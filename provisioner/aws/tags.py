"""Tags as every kind handles them: dicts, never positional lists, and never ``aws:`` keys."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def compare_tags(
    current: Mapping[str, str], desired: Mapping[str, str]
) -> tuple[dict[str, str], list[str]]:
    """Return (tags to set, keys to remove) to turn ``current`` into ``desired``.

    ``aws:`` tags belong to AWS (CloudFormation, Backup, ...): they are never set or removed.
    """
    to_set = {k: v for k, v in desired.items() if not k.startswith("aws:") and current.get(k) != v}
    to_unset = sorted(k for k in current if k not in desired and not k.startswith("aws:"))
    return to_set, to_unset


def tag_list(tags: Mapping[str, str]) -> list[dict[str, str]]:
    """Tags as AWS's ``[{"Key": ..., "Value": ...}]`` list, in a stable order."""
    return [{"Key": k, "Value": v} for k, v in sorted(tags.items())]


def tag_dict(tags: Sequence[Mapping[str, str]] | None) -> dict[str, str]:
    """AWS's tag list as a dict, without AWS's own ``aws:`` tags."""
    return {t["Key"]: t["Value"] for t in tags or () if not t["Key"].startswith("aws:")}


def tag_specs(resource_type: str, tags: Mapping[str, str]) -> list[dict[str, Any]]:
    """EC2's ``TagSpecifications``: tags written by the create call itself."""
    return [{"ResourceType": resource_type, "Tags": tag_list(tags)}]
