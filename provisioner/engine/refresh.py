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
    unknown = sorted(k for k in items if k not in kinds)
    if unknown:
        raise SmprovError(
            f"the state records resources of kinds this smprov does not know: {', '.join(unknown)}",
            hint="use the smprov version that wrote the state",
        )

    ctx = dataclasses.replace(ctx, read_cache=ReadCache())
    live: dict[str, Live] = {}
    kind_of: dict[str, str] = {}
    kind_deps = read_dependencies(desired, kinds)

    # What the state last read back: a kind found through its parent can be read on the state's
    # word for the parent's id, with the parent, instead of after it (one round trip, not two).
    # The guess is checked once the parent is read; a wrong one means a second read.
    believed = {
        key: Live(rec.id, dict(rec.attrs)) for key, rec in recorded.items() if rec.attrs is not None
    }
    kind_of_key = {d.key: d.kind for d in desired}

    def read_one(name: str, guesses: Guesses | None = None) -> dict[str, Live]:
        def resolver(value: Any) -> Any:
            if guesses is None:
                return resolve(value, live)
            found = resolve(value, {**believed, **live})
            guesses.append((value, found))
            return found

        try:
            return kinds[name].read(ctx, items[name], resolver)
        except SmprovError:
            raise
        except Exception as exc:
            raise to_aws_error(exc, f"reading {kinds[name].label or name}s") from exc

    names = set(items)
    waits_for = {name: (kind_deps.get(name, set()) & names) - {name} for name in names}
    # Kinds others wait for are read first: a kind that is not guessed starts on its parent's
    # answer, not on the slowest kind's.
    needed_by = {name: sum(name in deps for deps in waits_for.values()) for name in names}

    def guessable(name: str) -> bool:
        """Every resource of the kind is recorded, and so is every parent it refers to."""
        for item in items[name]:
            if not item.id:
                return False
            for ref in refs_in(dict(item.spec or {})):
                if kind_of_key.get(ref) in waits_for[name] and ref not in believed:
                    return False
        return bool(waits_for[name])

    def accept(name: str, found: dict[str, Live]) -> None:
        for key, value in found.items():
            live[key] = value
            kind_of[key] = name

    pending = set(names)
    # Only kinds whose parents are read for real: a guess never waits on another guess.
    candidates = {name for name in names if guessable(name)}
    guessed = {name for name in candidates if not (waits_for[name] & candidates)}
    running: dict[Future[dict[str, Live]], tuple[str, Guesses | None]] = {}
    held: dict[str, tuple[dict[str, Live], Guesses]] = {}
    with ThreadPoolExecutor(max_workers=_read_workers(ctx.parallelism, len(names))) as pool:
        while pending or running or held:
            busy = pending | {name for name, _ in running.values()} | set(held)
            for name in sorted(held):
                if waits_for[name] & busy:
                    continue
                found, guesses = held.pop(name)
                if all(resolve(value, live) == seen for value, seen in guesses):
                    accept(name, found)
                else:  # a parent is not what the state says: read again, after it
                    pending.add(name)
                    guessed.discard(name)
                busy = pending | {n for n, _ in running.values()} | set(held)
            ready = [n for n in pending if n in guessed or not (waits_for[n] & busy)]
            if not ready and not running:  # a kind-level loop: read the rest
                ready = list(pending)
            for name in sorted(ready, key=lambda n: (-needed_by[n], n)):
                pending.discard(name)
                asked: Guesses | None = [] if name in guessed else None
                running[pool.submit(read_one, name, asked)] = (name, asked)
            if not running:
                continue
            done, _ = wait(list(running), return_when=FIRST_COMPLETED)
            for future in sorted(done, key=lambda f: running[f][0]):
                name, guesses = running.pop(future)
                if guesses is None:
                    accept(name, future.result())
                else:
                    held[name] = (future.result(), guesses)
    return Refreshed(live, kind_of)


def _read_workers(parallelism: int, kinds: int) -> int:
    """Every kind at once unless the run is serial: a refresh is a burst of a few dozen
    describes, far below EC2's request budget (a bucket of 100 refilled at 20/s), and a kind
    queued behind ten others would cost another round trip. ``parallelism`` bounds the steps
    that change things; at 1 the reads stay one at a time, in order."""
    return 1 if parallelism <= 1 else max(parallelism, kinds)
