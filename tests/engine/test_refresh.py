"""The read phase: how many sequential rounds a refresh needs, and one call per shared describe."""

from __future__ import annotations

import threading

from provisioner.engine.refresh import read_dependencies, read_waves
from provisioner.kinds import REGISTRY
from provisioner.kinds.ec2 import ReadCache
from tests.harness import Harness


def test_the_default_stack_is_read_in_two_rounds(harness: Harness) -> None:
    desired = harness.open().desired
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
