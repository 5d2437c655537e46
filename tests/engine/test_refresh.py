"""The read phase: how many sequential rounds a refresh needs, and one call per shared describe."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import pytest

from provisioner import operations
from provisioner.aws.read_cache import ReadCache
from provisioner.engine.contract import Ctx, Kind, ReadItem, Resolver
from provisioner.engine.model import Desired, Live, Recorded, Ref
from provisioner.engine.refresh import (
    check_known,
    guessable,
    guesses_hold,
    read_dependencies,
    read_items,
    read_waves,
    refresh,
)
from provisioner.errors import SmprovError
from provisioner.kinds import REGISTRY
from tests.harness import Harness


def test_the_default_stack_is_read_in_two_rounds(harness: Harness) -> None:
    desired = operations.build_blueprint(harness.open(), None).desired
    waves = read_waves(read_dependencies(desired, REGISTRY), {d.kind for d in desired})
    assert len(waves) == 2
    # only kinds that need a parent's id wait for the second round
    assert set(waves[1]) == {name for name in waves[1] if not REGISTRY[name].reads_independently}
    assert {"vpc", "subnet", "route_table", "route", "nat_gateway", "iam_role"} <= set(waves[0])


def test_read_cache_sends_a_shared_describe_once_even_when_asked_concurrently() -> None:
    cache = ReadCache()
    calls: list[int] = []
    gate = threading.Barrier(4)

    def call() -> list[str]:
        calls.append(1)
        return ["rtb-1"]

    results: list[object] = []

    def worker() -> None:
        gate.wait()
        results.append(cache.get_or_call(("describe_route_tables", "RouteTables", "{}"), call))

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert calls == [1]
    assert results == [["rtb-1"]] * 4


class _TimedKind(Kind):
    """Finds every item after ``seconds``; notes when its read started and ended."""

    def __init__(self, name: str, seconds: float, log: dict[str, tuple[float, float]]) -> None:
        self.name = name
        self.seconds = seconds
        self.log = log

    def read(self, ctx: Ctx, items: Sequence[ReadItem], resolve: Resolver) -> dict[str, Live]:
        started = time.monotonic()
        for item in items:  # a child resolves its parent's id, as real kinds do
            if item.spec is not None:
                resolve(dict(item.spec))
        time.sleep(self.seconds)
        self.log[self.name] = (started, time.monotonic())
        return {item.key: Live(f"id-{item.key}", {}) for item in items}


def test_a_child_kind_is_read_once_its_parent_is_not_after_the_slowest_kind() -> None:
    log: dict[str, tuple[float, float]] = {}
    kinds: dict[str, Kind] = {
        "slow": _TimedKind("slow", 0.3, log),
        "parent": _TimedKind("parent", 0.01, log),
        "child": _TimedKind("child", 0.01, log),
    }
    desired = [
        Desired("slow", "slow", {}),
        Desired("parent", "parent", {}),
        Desired("child", "child", {"parent_id": Ref("parent")}),
    ]
    ctx = Ctx(clients=None, stack="dev", region="us-east-1", account="123456789012", parallelism=1)  # type: ignore[arg-type]
    found = refresh(replace(ctx, parallelism=4), kinds, desired, {})
    assert set(found.live) == {"slow", "parent", "child"}
    assert log["child"][0] >= log["parent"][1]  # waited for its parent
    assert log["child"][1] < log["slow"][1]  # but not for the slow kind


class _ChildKind(Kind):
    """Finds its item under the parent id it resolved; notes each read's start and that id."""

    name = "child"

    def __init__(self, log: list[tuple[float, Any]]) -> None:
        self.log = log

    def read(self, ctx: Ctx, items: Sequence[ReadItem], resolve: Resolver) -> dict[str, Live]:
        out = {}
        for item in items:
            parent = resolve((item.spec or {}).get("parent_id"))
            self.log.append((time.monotonic(), parent))
            out[item.key] = Live(str(item.id), {"parent_id": parent})
        return out


def _parent_and_child(parent_id: str) -> tuple[dict[str, Kind], list[Desired]]:
    return (
        {"parent": _FixedKind("parent", parent_id)},
        [
            Desired("parent", "parent", {}),
            Desired("child", "child", {"parent_id": Ref("parent")}),
        ],
    )


class _FixedKind(Kind):
    """Answers after 0.2 s that its one resource has ``live_id``."""

    def __init__(self, name: str, live_id: str) -> None:
        self.name = name
        self.live_id = live_id
        self.done_at = 0.0

    def read(self, ctx: Ctx, items: Sequence[ReadItem], resolve: Resolver) -> dict[str, Live]:
        time.sleep(0.2)
        self.done_at = time.monotonic()
        return {item.key: Live(self.live_id, {}) for item in items}


RECORDED = {
    "parent": Recorded("parent", "p-1", attrs={}),
    "child": Recorded("child", "c-1", frozenset({"parent"}), attrs={"parent_id": "p-1"}),
}
CTX = Ctx(clients=None, stack="dev", region="us-east-1", account="123456789012", parallelism=1)  # type: ignore[arg-type]


def test_a_recorded_child_is_read_with_its_parent_on_the_states_word() -> None:
    log: list[tuple[float, Any]] = []
    kinds, desired = _parent_and_child("p-1")
    kinds["child"] = _ChildKind(log)
    found = refresh(replace(CTX, parallelism=4), kinds, desired, RECORDED)
    parent = kinds["parent"]
    assert isinstance(parent, _FixedKind)
    assert len(log) == 1 and log[0][0] < parent.done_at  # one read, not after the parent's
    assert found.live["child"].attrs["parent_id"] == "p-1"


def test_a_wrong_guess_is_read_again_once_the_parent_is_known() -> None:
    """The state says the parent is p-1, AWS has p-2 (replaced outside smprov): the child's
    read on the state's word is thrown away and done again with the real id."""
    log: list[tuple[float, Any]] = []
    kinds, desired = _parent_and_child("p-2")
    kinds["child"] = _ChildKind(log)
    found = refresh(replace(CTX, parallelism=4), kinds, desired, RECORDED)
    assert [parent for _t, parent in log] == ["p-1", "p-2"]
    assert found.live["child"].attrs["parent_id"] == "p-2"


def test_every_kind_is_read_at_once_unless_the_run_is_serial() -> None:
    """Five independent kinds, 0.2 s each: parallelism 2 bounds the plan's steps, not the
    refresh's reads (one round, not three); parallelism 1 reads them one after another."""
    kinds: dict[str, Kind] = {f"k{n}": _TimedKind(f"k{n}", 0.2, {}) for n in range(5)}
    desired = [Desired(f"k{n}", f"k{n}", {}) for n in range(5)]
    started = time.monotonic()
    refresh(replace(CTX, parallelism=2), kinds, desired, {})
    assert time.monotonic() - started < 0.5
    started = time.monotonic()
    refresh(replace(CTX, parallelism=1), kinds, desired, {})
    assert time.monotonic() - started >= 1.0


def test_kinds_that_refer_to_each_other_are_still_read() -> None:
    """A kind-level loop (each kind's resource refers to the other's) cannot order the reads;
    recorded or not, both are read and the refresh ends."""
    kinds: dict[str, Kind] = {"a": _TimedKind("a", 0.01, {}), "b": _TimedKind("b", 0.01, {})}
    desired = [Desired("a", "a", {"peer": Ref("b")}), Desired("b", "b", {"peer": Ref("a")})]
    for recorded in ({}, {k: Recorded(k, f"id-{k}", attrs={}) for k in ("a", "b")}):
        result: list[set[str]] = []

        def read(r: dict[str, Recorded] = recorded, out: list[set[str]] = result) -> None:
            out.append(set(refresh(replace(CTX, parallelism=4), kinds, desired, r).live))

        worker = threading.Thread(target=read)
        worker.start()
        worker.join(timeout=10)
        assert not worker.is_alive(), "refresh did not end"
        assert result == [{"a", "b"}]


# --- the refresh's units, one at a time ---------------------------------------------------------


def test_read_items_ask_for_every_desired_and_every_recorded_key() -> None:
    desired = [Desired("vpc", "vpc", {"cidr": "10.0.0.0/16"})]
    recorded = {
        "vpc": Recorded("vpc", "vpc-1", attrs={"cidr": "10.0.0.0/16"}),
        "old": Recorded("subnet", "subnet-9"),
    }
    items = read_items(desired, recorded)
    assert items == {
        "vpc": [ReadItem("vpc", "vpc-1", {"cidr": "10.0.0.0/16"}, {"cidr": "10.0.0.0/16"})],
        "subnet": [ReadItem("old", "subnet-9", None, None)],
    }


def test_a_state_of_unknown_kinds_is_refused_before_any_read() -> None:
    items = {"gizmo": [ReadItem("g", "g-1", None)]}
    with pytest.raises(SmprovError, match="kinds this smprov does not know: gizmo"):
        check_known(items, REGISTRY)


def test_a_kind_is_guessable_only_when_it_and_its_parents_are_recorded() -> None:
    child = ReadItem("child", "c-1", {"parent_id": Ref("parent")})
    kind_of_key = {"parent": "parent_kind", "child": "child_kind"}
    believed = {"parent": Live("p-1", {})}
    assert guessable([child], {"parent_kind"}, kind_of_key, believed)
    assert not guessable([child], {"parent_kind"}, kind_of_key, {})  # parent not recorded
    unrecorded = ReadItem("child", None, {"parent_id": Ref("parent")})
    assert not guessable([unrecorded], {"parent_kind"}, kind_of_key, believed)
    assert not guessable([child], set(), kind_of_key, believed)  # waits for nothing


def test_a_guess_holds_only_when_the_parents_read_agree() -> None:
    guesses = [(Ref("parent"), "p-1")]
    assert guesses_hold(guesses, {"parent": Live("p-1")})
    assert not guesses_hold(guesses, {"parent": Live("p-2")})
    assert not guesses_hold(guesses, {})
