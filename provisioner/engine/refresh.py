"""The read phase: one batched read per kind, finding recorded and unrecorded resources alike.

A kind found through its parent waits for the parent's read (default network ACL after the VPC)
so it can resolve the parent's id; every other kind is read at once, and a kind starts as soon as
the kinds it waits for are read (``read_waves`` counts the sequential rounds this makes).
Identical describe calls within one refresh are shared (``ReadCache``), so route tables, routes and
associations cost one DescribeRouteTables together.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

from provisioner.aws.errors import to_aws_error
from provisioner.aws.read_cache import ReadCache
from provisioner.engine.contract import Ctx, Kind, ReadItem
from provisioner.engine.model import Desired, Live, Recorded, Refreshed, refs_in, resolve
from provisioner.errors import SmprovError

#: The spec values a kind read on the state's word, and what they resolved to.
Guesses = list[tuple[Any, Any]]


def read_dependencies(desired: Sequence[Desired], kinds: Mapping[str, Kind]) -> dict[str, set[str]]:
    """Which kinds must be read before which: only kinds that resolve a parent's id in ``read``
    wait, and only for the kinds their Refs point to (ordering-only ``extra_deps`` do not count).
    Kinds that find their resources by tag or by a configured name are all read at once."""
    by_key = {d.key: d.kind for d in desired}
    out: dict[str, set[str]] = {}
    for d in desired:
        deps = out.setdefault(d.kind, set())
        if d.kind in kinds and kinds[d.kind].reads_independently:
            continue
        deps |= {by_key[k] for k in refs_in(dict(d.spec)) if k in by_key} - {d.kind}
    return out


def read_waves(kind_deps: Mapping[str, set[str]], names: set[str]) -> list[list[str]]:
    """Group kinds so that each wave only depends on kinds of earlier waves."""
    remaining = set(names)
    waves: list[list[str]] = []
    while remaining:
        wave = sorted(k for k in remaining if not (kind_deps.get(k, set()) & remaining))
        if not wave:  # a kind-level loop cannot order reads; read the rest together
            wave = sorted(remaining)
        waves.append(wave)
        remaining -= set(wave)
    return waves


def read_items(
    desired: Sequence[Desired],
    recorded: Mapping[str, Recorded],
    intended: Mapping[str, tuple[str, str]] | None = None,
) -> dict[str, list[ReadItem]]:
    """What to ask each kind for: every desired key (with its recorded id and attributes, and
    the name an unfinished create asked for, if any), then every recorded key no longer desired
    (to be deleted), then unfinished name-keyed creates no longer desired (``intended``: key ->
    (kind, name asked for))."""
    intended = intended or {}
    items: dict[str, list[ReadItem]] = {}
    for d in desired:
        rec = recorded.get(d.key)
        name = intended[d.key][1] if d.key in intended else None
        items.setdefault(d.kind, []).append(
            ReadItem(d.key, rec.id if rec else None, d.spec, rec.attrs if rec else None, name)
        )
    desired_keys = {d.key for d in desired}
    for key, rec in recorded.items():
        if key not in desired_keys:
            items.setdefault(rec.kind, []).append(ReadItem(key, rec.id, None, rec.attrs))
    for key, (kind, name) in intended.items():
        if key not in desired_keys and key not in recorded:
            # A create the blueprint no longer wants: found by the name it asked for.
            items.setdefault(kind, []).append(ReadItem(key, None, None, intended=name))
    return items


def check_known(items: Mapping[str, Sequence[ReadItem]], kinds: Mapping[str, Kind]) -> None:
    unknown = sorted(k for k in items if k not in kinds)
    if unknown:
        raise SmprovError(
            f"the state records resources of kinds this smprov does not know: {', '.join(unknown)}",
            hint="use the smprov version that wrote the state",
        )


def guessable(
    items: Sequence[ReadItem],
    waits_for: set[str],
    kind_of_key: Mapping[str, str],
    believed: Mapping[str, Live],
) -> bool:
    """Whether a kind that waits for ``waits_for`` can be read on the state's word instead:
    every resource of it is recorded, and so is every parent it refers to."""
    for item in items:
        if not item.id:
            return False
        for ref in refs_in(dict(item.spec or {})):
            if kind_of_key.get(ref) in waits_for and ref not in believed:
                return False
    return bool(waits_for)


def guesses_hold(guesses: Guesses, live: Mapping[str, Live]) -> bool:
    """Whether every parent value a kind was read with is what the parents' reads found."""
    return all(resolve(value, live) == seen for value, seen in guesses)


class _Reads:
    """One refresh's reads: which kinds are pending, running, or read on a guess and held until
    their parents are read."""

    def __init__(
        self,
        ctx: Ctx,
        kinds: Mapping[str, Kind],
        desired: Sequence[Desired],
        recorded: Mapping[str, Recorded],
        items: Mapping[str, Sequence[ReadItem]],
    ) -> None:
        self.ctx = dataclasses.replace(ctx, read_cache=ReadCache())
        self.kinds, self.items = kinds, items
        self.live: dict[str, Live] = {}
        self.kind_of: dict[str, str] = {}
        names = set(items)
        kind_deps = read_dependencies(desired, kinds)
        self.waits_for = {name: (kind_deps.get(name, set()) & names) - {name} for name in names}
        # Kinds others wait for are read first: a kind that is not guessed starts on its
        # parent's answer, not on the slowest kind's.
        self.needed_by = {
            name: sum(name in deps for deps in self.waits_for.values()) for name in names
        }
        # What the state last read back: a kind found through its parent can be read on the
        # state's word for the parent's id, with the parent, instead of after it (one round
        # trip, not two). The guess is checked once the parent is read; a wrong one means a
        # second read.
        self.believed = {
            key: Live(rec.id, dict(rec.attrs))
            for key, rec in recorded.items()
            if rec.attrs is not None
        }
        kind_of_key = {d.key: d.kind for d in desired}
        candidates = {
            name
            for name in names
            if guessable(items[name], self.waits_for[name], kind_of_key, self.believed)
        }
        # Only kinds whose parents are read for real: a guess never waits on another guess.
        self.guessed = {name for name in candidates if not (self.waits_for[name] & candidates)}
        self.pending = set(names)
        self.running: dict[Future[dict[str, Live]], tuple[str, Guesses | None]] = {}
        self.held: dict[str, tuple[dict[str, Live], Guesses]] = {}

    def run(self) -> Refreshed:
        workers = _read_workers(self.ctx.parallelism, len(self.items))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            while self.pending or self.running or self.held:
                self.settle_held()
                for name in self.ready():
                    self.pending.discard(name)
                    asked: Guesses | None = [] if name in self.guessed else None
                    self.running[pool.submit(self.read_kind, name, asked)] = (name, asked)
                if not self.running:
                    continue
                done, _ = wait(list(self.running), return_when=FIRST_COMPLETED)
                for future in sorted(done, key=lambda f: self.running[f][0]):
                    name, guesses = self.running.pop(future)
                    if guesses is None:
                        self.accept(name, future.result())
                    else:
                        self.held[name] = (future.result(), guesses)
        return Refreshed(self.live, self.kind_of)

    def busy(self) -> set[str]:
        return self.pending | {name for name, _ in self.running.values()} | set(self.held)

    def settle_held(self) -> None:
        """Kinds read on a guess whose parents are now read: accepted when the guess held,
        else read again (after the parents)."""
        for name in sorted(self.held):
            if self.waits_for[name] & self.busy():
                continue
            found, guesses = self.held.pop(name)
            if guesses_hold(guesses, self.live):
                self.accept(name, found)
            else:  # a parent is not what the state says: read again, after it
                self.pending.add(name)
                self.guessed.discard(name)

    def ready(self) -> list[str]:
        """Pending kinds that may start now (parents first among them)."""
        busy = self.busy()
        ready = [n for n in self.pending if n in self.guessed or not (self.waits_for[n] & busy)]
        if not ready and not self.running:  # a kind-level loop: read the rest
            ready = list(self.pending)
        return sorted(ready, key=lambda n: (-self.needed_by[n], n))

    def read_kind(self, name: str, guesses: Guesses | None = None) -> dict[str, Live]:
        """One kind's read; its parents' values come from what is read, or (``guesses``) from
        the state, each noted to be checked later."""

        def resolver(value: Any) -> Any:
            if guesses is None:
                return resolve(value, self.live)
            found = resolve(value, {**self.believed, **self.live})
            guesses.append((value, found))
            return found

        kind = self.kinds[name]
        try:
            return kind.read(self.ctx, self.items[name], resolver)
        except SmprovError:
            raise
        except Exception as exc:
            raise to_aws_error(exc, f"reading {kind.label or name}s") from exc

    def accept(self, name: str, found: Mapping[str, Live]) -> None:
        for key, value in found.items():
            self.live[key] = value
            self.kind_of[key] = name


def refresh(
    ctx: Ctx,
    kinds: Mapping[str, Kind],
    desired: Sequence[Desired],
    recorded: Mapping[str, Recorded],
    *,
    intended: Mapping[str, tuple[str, str]] | None = None,
) -> Refreshed:
    """Read every kind the blueprint or the state mentions; return what is live, by key.
    ``intended`` maps the keys of unfinished name-keyed creates to (kind, name asked for)."""
    items = read_items(desired, recorded, intended)
    check_known(items, kinds)
    return _Reads(ctx, kinds, desired, recorded, items).run()


def _read_workers(parallelism: int, kinds: int) -> int:
    """Every kind at once unless the run is serial: a refresh is a burst of a few dozen
    describes, far below EC2's request budget (a bucket of 100 refilled at 20/s), and a kind
    queued behind ten others would cost another round trip. ``parallelism`` bounds the steps
    that change things; at 1 the reads stay one at a time, in order."""
    return 1 if parallelism <= 1 else max(parallelism, kinds)
