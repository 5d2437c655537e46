from __future__ import annotations

import pytest

from provisioner.engine.graph import Graph, GraphError


def test_topological_order_puts_dependencies_first() -> None:
    g: Graph[str] = Graph()
    for n in ("vpc", "subnet", "nat", "eip"):
        g.add(n)
    g.add_edge("subnet", "vpc")
    g.add_edge("nat", "subnet")
    g.add_edge("nat", "eip")
    order = g.topological()
    assert order.index("vpc") < order.index("subnet") < order.index("nat")
    assert order.index("eip") < order.index("nat")


def test_cycle_is_reported_with_its_loop() -> None:
    g: Graph[str] = Graph()
    for n in ("a", "b", "c"):
        g.add(n)
    g.add_edge("a", "b")
    g.add_edge("b", "c")
    g.add_edge("c", "a")
    with pytest.raises(GraphError) as err:
        g.validate()
    assert "dependency cycle" in err.value.message
    assert all(n in err.value.message for n in "abc")


def test_downstream_is_transitive() -> None:
    g: Graph[str] = Graph()
    for n in ("a", "b", "c", "d"):
        g.add(n)
    g.add_edge("b", "a")
    g.add_edge("c", "b")
    assert g.downstream(["a"]) == {"b", "c"}
    assert g.downstream(["d"]) == set()


def test_edges_to_unknown_nodes_are_ignored() -> None:
    g: Graph[str] = Graph()
    g.add("a")
    g.add_edge("a", "not-in-plan")
    assert g.deps("a") == frozenset()
