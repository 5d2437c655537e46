"""Which of the stack's resources belong to this state, and which to another one.

Every resource smprov makes carries the lineage of the state that made it (``smprov:lineage``).
A run changes, adopts or deletes silently only what its own state made: the same lineage (a
resource a crashed run made before recording it), or, without a lineage tag, a resource the
state lists or meant to make (older smprov versions wrote no lineage; an intent names a create
that may have happened). Anything else found under the stack's tag was made under another state
-- a second checkout, another team sharing the account, a lost state file -- and is never
touched without an explicit takeover (``smprov import``).

Pure: judged on what a refresh found, with no AWS call.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from provisioner.engine.contract import LINEAGE_TAG, STACK_TAG
from provisioner.engine.model import Recorded, Refreshed
from provisioner.errors import SmprovError

#: How many foreign resources the message names.
SHOWN = 4


@dataclass(frozen=True)
class Foreign:
    """A resource of the stack that this state does not own."""

    key: str
    kind: str
    id: str
    #: Its ``smprov:lineage`` tag; None when it has none.
    lineage: str | None


def foreign(
    found: Refreshed,
    recorded: Mapping[str, Recorded],
    intents: Collection[str],
    lineage: str | None,
) -> list[Foreign]:
    """The stack's resources (those carrying its ``smprov:stack`` tag) made under another state.
    ``lineage`` is this state's, None when there is no state at all (then every one is foreign).

    Resources without the stack tag are not judged here: they were found by a name or through
    a parent the kind checked (a VPC's default security group, an object in the bucket)."""
    out: list[Foreign] = []
    for key, live in sorted(found.live.items()):
        tags = live.attrs.get("tags")
        if not isinstance(tags, Mapping) or STACK_TAG not in tags:
            continue
        theirs = tags.get(LINEAGE_TAG)
        if lineage is not None:
            if theirs == lineage:
                continue
            listed = key in recorded and recorded[key].id == live.id
            if theirs is None and (listed or key in intents):
                continue
        out.append(Foreign(key, found.kind_of.get(key, ""), live.id, theirs))
    return out


class ForeignStackError(SmprovError):
    """The stack has resources of another state: nothing is changed (exit 1)."""

    def __init__(
        self,
        found: Sequence[Foreign],
        *,
        stack: str,
        account: str,
        region: str,
        lineage: str | None,
        state: str,
    ) -> None:
        self.found = list(found)
        owners = Counter(f.lineage for f in found)
        whose = ", ".join(
            f"{n} resource{'s carry' if n > 1 else ' carries'} "
            + (f"lineage {owner}" if owner else "no smprov:lineage tag")
            for owner, n in owners.most_common()
        )
        names = ", ".join(f"{f.key} ({f.id})" for f in found[:SHOWN])
        more = f" and {len(found) - SHOWN} more" if len(found) > SHOWN else ""
        mine = (
            f"this state ({state}) has lineage {lineage}"
            if lineage is not None
            else f"there is no state here ({state})"
        )
        super().__init__(
            f"stack {stack} in account {account}, region {region}, belongs to another state: "
            f"{whose}; {mine}. Nothing was changed. Found: {names}{more}",
            hint="if this is your stack and its state file is lost, run `smprov import` to take "
            "it over (the other state can then no longer change it); otherwise choose another "
            "`environment` in smprov.toml",
        )
