"""The planner is pure: tables of (desired, live, recorded) -> actions and ordering."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from provisioner.engine.contract import Ctx, Kind, ReadItem, Resolver
from provisioner.engine.model import (
    UNKNOWN,
    Action,
    Desired,
    Live,
    Phase,
    Recorded,
    Ref,
    Refreshed,
    resolve,
)
from provisioner.engine.planner import make_plan


class Thing(Kind):
    """A toy kind: `size` updates in place, `zone` forces replacement."""

    name = "thing"
    replace_on = frozenset({"zone", "parent"})

    def read(self, ctx: Ctx, items: Sequence[ReadItem], resolve: Resolver) -> dict[str, Live]:
        raise AssertionError("the planner never reads")


KINDS: Mapping[str, Kind] = {"thing": Thing()}


def found(live: Mapping[str, Live]) -> Refreshed:
    return Refreshed(live, dict.fromkeys(live, "thing"))


def d(key: str, **spec: Any) -> Desired:
    return Desired(key, "thing", spec)


def actions(plan: Any) -> dict[str, Action]:
    return {s.key: s.action for s in plan.steps}


def test_missing_is_created_present_equal_is_noop() -> None:
    plan = make_plan(
        [d("a", size=1), d("b", size=2)],
        found({"b": Live("id-b", {"size": 2})}),
        {"b": Recorded("thing", "id-b")},
        KINDS,
    )
    assert actions(plan) == {"a": Action.CREATE, "b": Action.NOOP}
    assert not plan.is_empty


def test_changed_field_updates_and_replace_on_field_replaces() -> None:
    plan = make_plan(
        [d("a", size=2, zone="x"), d("b", size=1, zone="y")],
        found({"a": Live("1", {"size": 1, "zone": "x"}), "b": Live("2", {"size": 1, "zone": "x"})}),
        {"a": Recorded("thing", "1"), "b": Recorded("thing", "2")},
        KINDS,
    )
    assert actions(plan) == {"a": Action.UPDATE, "b": Action.REPLACE}
    (change,) = plan.step_by_key["a"].changes
    assert (change.path, change.old, change.new, change.forces_replace) == ("size", 1, 2, False)
    # a replacement deletes the old one before creating the new one
    assert ("b", Phase.DESTROY) in plan.graph.deps(("b", Phase.APPLY))


def test_replacing_a_parent_replaces_children_that_cannot_move() -> None:
    plan = make_plan(
        [d("p", zone="new"), d("c", parent=Ref("p"), zone="z")],
        found({"p": Live("p1", {"zone": "old"}), "c": Live("c1", {"parent": "p1", "zone": "z"})}),
        {"p": Recorded("thing", "p1"), "c": Recorded("thing", "c1", frozenset({"p"}))},
        KINDS,
    )
    assert actions(plan) == {"p": Action.REPLACE, "c": Action.REPLACE}
    # the child is destroyed before the parent, and created after it
    assert ("c", Phase.DESTROY) in plan.graph.deps(("p", Phase.DESTROY))
    assert ("p", Phase.APPLY) in plan.graph.deps(("c", Phase.APPLY))
    change = next(c for c in plan.step_by_key["c"].changes if c.path == "parent")
    assert change.new is UNKNOWN


def test_undesired_resources_are_deleted_dependants_first() -> None:
    plan = make_plan(
        [],
        found({"p": Live("p1"), "c": Live("c1")}),
        {"p": Recorded("thing", "p1"), "c": Recorded("thing", "c1", frozenset({"p"}))},
        KINDS,
    )
    assert actions(plan) == {"p": Action.DELETE, "c": Action.DELETE}
    assert ("c", Phase.DESTROY) in plan.graph.deps(("p", Phase.DESTROY))


def test_recorded_but_gone_is_only_forgotten() -> None:
    plan = make_plan([], found({}), {"x": Recorded("thing", "x1")}, KINDS)
    (step,) = plan.steps
    assert step.action is Action.DELETE and step.live is None
    assert "already gone" in step.reason


def test_recorded_desired_but_gone_is_recreated_as_drift() -> None:
    plan = make_plan([d("x", size=1)], found({}), {"x": Recorded("thing", "x1")}, KINDS)
    (step,) = plan.steps
    assert step.action is Action.CREATE
    assert step.reason == "deleted outside smprov"


def test_found_by_tag_without_record_is_adopted_not_created() -> None:
    plan = make_plan([d("x", size=1)], found({"x": Live("x1", {"size": 1})}), {}, KINDS)
    (step,) = plan.steps
    # No change in AWS, but the state must record it: an update of no field.
    assert step.action is Action.UPDATE and step.changes == ()
    assert step.reason.startswith("adopted")


def test_a_delete_waits_for_the_update_that_moves_a_dependant_away() -> None:
    # `c` pointed at `old`; now it points at `new`: old goes only after c has moved.
    plan = make_plan(
        [d("new", size=1), d("c", size=Ref("new"))],
        found({"old": Live("o1"), "c": Live("c1", {"size": "o1"})}),
        {
            "old": Recorded("thing", "o1"),
            "c": Recorded("thing", "c1", frozenset({"old"})),
        },
        KINDS,
    )
    assert actions(plan) == {"new": Action.CREATE, "c": Action.UPDATE, "old": Action.DELETE}
    assert ("c", Phase.APPLY) in plan.graph.deps(("old", Phase.DESTROY))


def test_resolve_handles_nested_values_templates_and_unknowns() -> None:
    live = {"vpc": Live("vpc-1", {"arn": "arn:vpc"})}
    value = {
        "ids": [Ref("vpc"), Ref("missing")],
        "name": Ref("vpc", template="/aws/vpc-flow-log/{}"),
        "arn": Ref("vpc", "arn"),
    }
    assert resolve(value, live) == {
        "ids": ["vpc-1", UNKNOWN],
        "name": "/aws/vpc-flow-log/vpc-1",
        "arn": "arn:vpc",
    }


def test_apply_after_orders_creation_but_not_deletion() -> None:
    route = d("route", size=1)
    assoc = Desired("assoc", "thing", {"size": 2}, apply_after=frozenset({"route"}))
    plan = make_plan([route, assoc], found({}), {}, KINDS)
    assert ("route", Phase.APPLY) in plan.graph.deps(("assoc", Phase.APPLY))
    assert assoc.depends_on == frozenset()  # not recorded as a dependency
    teardown = make_plan(
        [],
        found({"route": Live("r1"), "assoc": Live("a1")}),
        {"route": Recorded("thing", "r1"), "assoc": Recorded("thing", "a1")},
        KINDS,
        hints=[route, assoc],
    )
    assert teardown.graph.deps(("route", Phase.DESTROY)) == frozenset()
