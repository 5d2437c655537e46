"""Moving a state between backends (`smprov state pull` / `state push`), with Terraform's checks.

A copy must never replace another stack's state, nor a newer one: the destination is locked, its
current document read, and the incoming document must share its lineage and must not have a
lower serial (``force`` overrides both). The document is written unchanged, so a state moves
local -> S3 -> local byte for byte.
"""

from __future__ import annotations

from dataclasses import dataclass

from provisioner.errors import StateError
from provisioner.store.backend import StateBackend
from provisioner.store.document import StateDocument


@dataclass(frozen=True)
class TransferResult:
    """What a copy did, for the message the CLI prints."""

    source: str
    destination: str
    serial: int
    replaced_serial: int | None
    """Serial of the document that was replaced; None when the destination was empty."""
    written: bool
    """False when the destination already held exactly this document."""

    def describe(self) -> str:
        if not self.written:
            return f"{self.destination} already holds serial {self.serial}: nothing to copy"
        replaced = (
            "an empty destination"
            if self.replaced_serial is None
            else f"serial {self.replaced_serial}"
        )
        return (
            f"copied serial {self.serial} from {self.source} to {self.destination} "
            f"(replacing {replaced})"
        )


def read_required(backend: StateBackend) -> StateDocument:
    """The backend's document; a StateError when there is none (there is nothing to move)."""
    doc = backend.read()
    if doc is None:
        raise StateError(
            f"there is no state at {backend.describe()}",
            "check --state / state_backend, or run `smprov up` first",
        )
    return doc


def transfer_problems(incoming: StateDocument, existing: StateDocument | None) -> list[str]:
    """Why ``incoming`` must not replace ``existing`` (empty: it may). ``--force`` skips these."""
    if existing is None:
        return []
    if incoming.lineage != existing.lineage:
        return [
            f"the lineages differ (incoming {incoming.lineage}, destination {existing.lineage}): "
            "they are states of different stacks, or of one stack created twice"
        ]
    if incoming.serial < existing.serial:
        return [
            f"the serial would go backwards (incoming {incoming.serial}, destination "
            f"{existing.serial}): the destination is newer"
        ]
    if incoming.serial == existing.serial and incoming.to_json() != existing.to_json():
        return [f"both have serial {incoming.serial} but different contents: the copies diverged"]
    return []


def copy_state(
    source: StateBackend,
    destination: StateBackend,
    *,
    stack: str,
    region: str,
    operation: str,
    force: bool = False,
) -> TransferResult:
    """Copy ``source``'s document to ``destination`` under the destination's lock.

    The document must belong to ``stack`` in ``region`` (the configured stack) whatever
    ``force`` says: every later command would refuse it anyway.
    """
    doc = read_required(source)
    if doc.stack != stack or doc.region != region:
        raise StateError(
            f"{source.describe()} is the state of stack {doc.stack!r} in {doc.region}, "
            f"not of stack {stack!r} in {region}",
            "use the configuration (--config) of the stack this state belongs to",
        )
    with destination.lock(operation):
        existing = destination.read()
        problems = transfer_problems(doc, existing)
        if problems and not force:
            raise StateError(
                f"refusing to copy {source.describe()} over {destination.describe()}: "
                + "; ".join(problems),
                "pull the destination first to compare; --force copies anyway",
            )
        replaced = existing.serial if existing is not None else None
        if existing is not None and existing.to_json() == doc.to_json():
            return TransferResult(
                source.describe(), destination.describe(), doc.serial, replaced, False
            )
        destination.write(doc)
    return TransferResult(source.describe(), destination.describe(), doc.serial, replaced, True)
