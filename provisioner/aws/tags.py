"""Tag comparison shared by every kind: dicts, never positional lists, and never ``aws:`` keys."""

from __future__ import annotations

from collections.abc import Mapping


def compare_tags(
    current: Mapping[str, str], desired: Mapping[str, str]
) -> tuple[dict[str, str], list[str]]:
    """Return (tags to set, keys to remove) to turn ``current`` into ``desired``.

    ``aws:`` tags belong to AWS (CloudFormation, Backup, ...): they are never set or removed.
    """
    to_set = {k: v for k, v in desired.items() if not k.startswith("aws:") and current.get(k) != v}
    to_unset = sorted(k for k in current if k not in desired and not k.startswith("aws:"))
    return to_set, to_unset
