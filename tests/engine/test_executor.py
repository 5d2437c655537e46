"""The executor walks the plan graph: dependencies first, failures skip dependants only,
a cancel stops new work, and every change reaches the recorder."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

from provisioner.aws.clients import Clients
from provisioner.engine.contract import Ctx, Kind, ReadItem, Resolver
from provisioner.engine.executor import (
    Creation,
    LiveValues,
    apply,
    apply_step,
    client_token,
    destroy_step,
    failure,
    next_node,
)
from provisioner.engine.model import Desired, Live, Phase, Recorded, Ref, Refreshed, StepStatus
from provisioner.engine.planner import make_plan
from provisioner.errors import AwsError


class FakeRecorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []
        self.lock = threading.Lock()

    def record(
        self, key: str, kind: str, id: str, attrs: Mapping[str, Any], depends_on: list[str]
    ) -> None:
        with self.lock:
            self.events.append(("record", key))

    def forget(self, key: str, *, wait: bool = True) -> None:
        with self.lock:
            self.events.append(("forget", key))

    def intend(self, key: str, kind: str, token: str, name: str | None = None) -> None:
        with self.lock:
            self.events.append(("intend", key))

    def clear_intent(self, key: str) -> None:
        with self.lock:
            self.events.append(("clear_intent", key))

    def keep(self, key: str, reason: str | None) -> None:
        with self.lock:
            self.events.append(("keep", key))


class Toy(Kind):
    name = "toy"

    def __init__(self, fail: set[str] | None = None, delay: float = 0.0) -> None:
        self.fail = fail or set()
        self.delay = delay
        self.created: list[tuple[str, Mapping[str, Any]]] = []
        self.running = 0
        self.peak = 0
        self.lock = threading.Lock()

    def read(self, ctx: Ctx, items: Sequence[ReadItem], resolve: Resolver) -> dict[str, Live]:
        return {}

    def create(self, ctx: Ctx, key: str, spec: Mapping[str, Any], token: str) -> Live:
        with self.lock:
            self.running += 1
            self.peak = max(self.peak, self.running)
        try:
            time.sleep(self.delay)
            if key in self.fail:
                raise AwsError(f"{key} exploded", code="Boom")
            self.created.append((key, dict(spec)))
            return Live(f"id-{key}", {})
        finally:
            with self.lock:
                self.running -= 1

    def delete(self, ctx: Ctx, live: Live) -> None:
        return None


def ctx(aws_env: None, parallelism: int = 10) -> Ctx:
    return Ctx(
        clients=Clients("us-east-1"),
        stack="dev",
        region="us-east-1",
        account="1",
        parallelism=parallelism,
    )


def plan_for(desired: list[Desired], kind: Toy) -> Any:
    return make_plan(desired, Refreshed({}, {}), {}, {"toy": kind})


def test_dependants_see_resolved_ids_and_run_after(aws_env: None) -> None:
    kind = Toy()
    desired = [Desired("a", "toy", {}), Desired("b", "toy", {"parent": Ref("a")})]
    rec = FakeRecorder()
    report = apply(plan_for(desired, kind), ctx(aws_env), rec, {"toy": kind}, lineage="L")
    assert report.ok
    assert kind.created == [("a", {}), ("b", {"parent": "id-a"})]
    # the intent is written before the create, the record right after it
    assert rec.events[:2] == [("intend", "a"), ("record", "a")]


def test_failure_skips_only_dependants(aws_env: None) -> None:
    kind = Toy(fail={"a"})
    desired = [
        Desired("a", "toy", {}),
        Desired("b", "toy", {"parent": Ref("a")}),
        Desired("c", "toy", {}),
    ]
    report = apply(
        plan_for(desired, kind), ctx(aws_env), FakeRecorder(), {"toy": kind}, lineage="L"
    )
    status = {k: r.status for (k, _p), r in report.results.items()}
    assert status == {"a": StepStatus.FAILED, "b": StepStatus.SKIPPED, "c": StepStatus.DONE}
    assert "a exploded" in report.results[("a", Phase.APPLY)].message
    assert "a failed" in report.results[("b", Phase.APPLY)].message


def test_parallelism_bounds_concurrency(aws_env: None) -> None:
    kind = Toy(delay=0.05)
    desired = [Desired(f"n{i}", "toy", {}) for i in range(8)]
    apply(
        plan_for(desired, kind),
        ctx(aws_env, parallelism=3),
        FakeRecorder(),
        {"toy": kind},
        lineage="L",
    )
    assert kind.peak == 3
    kind2 = Toy(delay=0.05)
    apply(
        plan_for(desired, kind2),
        ctx(aws_env, parallelism=1),
        FakeRecorder(),
        {"toy": kind2},
        lineage="L",
    )
    assert kind2.peak == 1


def test_cancel_stops_new_work_and_marks_the_rest(aws_env: None) -> None:
    kind = Toy(delay=0.05)
    desired = [Desired("a", "toy", {}), Desired("b", "toy", {"parent": Ref("a")})]
    cancel = threading.Event()

    def on_event(event: Any) -> None:
        if event.key == "a" and event.status is StepStatus.RUNNING:
            cancel.set()

    report = apply(
        plan_for(desired, kind),
        ctx(aws_env),
        FakeRecorder(),
        {"toy": kind},
        lineage="L",
        on_event=on_event,
        cancel=cancel,
    )
    assert report.results[("a", Phase.APPLY)].status is StepStatus.DONE
    assert report.results[("b", Phase.APPLY)].status is StepStatus.CANCELLED


def test_deletes_forget_and_recorded_intent_tokens_are_reused(aws_env: None) -> None:
    kind = Toy()
    plan = make_plan(
        [Desired("new", "toy", {})],
        Refreshed({"old": Live("o")}, {"old": "toy"}),
        {"old": Recorded("toy", "o")},
        {"toy": kind},
    )
    tokens: list[str] = []

    class TokenKind(Toy):
        def create(self, ctx: Ctx, key: str, spec: Mapping[str, Any], token: str) -> Live:
            tokens.append(token)
            return Live("id")

    tk = TokenKind()
    rec = FakeRecorder()
    apply(plan, ctx(aws_env), rec, {"toy": tk}, lineage="L", intents={"new": "tok-1"})
    assert tokens == ["tok-1"]
    assert ("forget", "old") in rec.events


def test_client_token_is_deterministic_and_fits_aws_limits() -> None:
    a = client_token("lineage", "nat_gateway.us-east-1a", 3)
    assert a == client_token("lineage", "nat_gateway.us-east-1a", 3)
    assert a != client_token("lineage", "nat_gateway.us-east-1a", 4)
    assert len(a) <= 64 and a.isascii()


def test_a_state_write_failure_stops_all_new_work(aws_env: None) -> None:
    from provisioner.errors import StateError

    class BrokenRecorder(FakeRecorder):
        def record(
            self, key: str, kind: str, id: str, attrs: Mapping[str, Any], depends_on: list[str]
        ) -> None:
            raise StateError("the state changed under us")

    kind = Toy()
    desired = [Desired("a", "toy", {}), Desired("b", "toy", {})]
    report = apply(
        plan_for(desired, kind),
        ctx(aws_env, parallelism=1),
        BrokenRecorder(),
        {"toy": kind},
        lineage="L",
    )
    statuses = sorted(r.status.value for r in report.results.values())
    assert statuses == ["cancelled", "failed"]
    assert len(kind.created) == 1


# --- the walk's units, one at a time ------------------------------------------------------------


class Keeper(Toy):
    """Deletes nothing: says why it keeps the resource (like a bucket holding user data)."""

    def delete(self, ctx: Ctx, live: Live) -> str:
        return "holds user data"


def test_destroy_step_forgets_a_deleted_resource_and_drops_its_value(aws_env: None) -> None:
    rec = FakeRecorder()
    plan = make_plan([], Refreshed({"old": Live("o-1")}, {"old": "toy"}), {}, {"toy": Toy()})
    lives = LiveValues(plan.step_by_key)
    lives.set("old", Live("o-1"))
    message = destroy_step(ctx(aws_env), Toy(), plan.step_by_key["old"], rec, lives)
    assert message == "deleted o-1"
    assert rec.events == [("forget", "old")]
    assert "old" not in lives.current()


def test_destroy_step_keeps_what_the_kind_keeps_and_its_state_entry(aws_env: None) -> None:
    rec = FakeRecorder()
    plan = make_plan([], Refreshed({"old": Live("o-1")}, {"old": "toy"}), {}, {"toy": Keeper()})
    message = destroy_step(
        ctx(aws_env), Keeper(), plan.step_by_key["old"], rec, LiveValues(plan.step_by_key)
    )
    assert message == "kept o-1: holds user data"
    assert rec.events == [("keep", "old")]


def test_apply_step_records_the_intent_before_the_create_and_resolves_refs(aws_env: None) -> None:
    kind = Toy()
    rec = FakeRecorder()
    plan = plan_for([Desired("a", "toy", {}), Desired("b", "toy", {"parent": Ref("a")})], kind)
    lives = LiveValues(plan.step_by_key)
    lives.set("a", Live("id-a"))
    creation = Creation("L", {"b": "tok-b"})
    message = apply_step(ctx(aws_env), kind, plan.step_by_key["b"], rec, lives, creation)
    assert message == "created id-b"
    assert kind.created == [("b", {"parent": "id-a"})]
    assert rec.events == [("intend", "b"), ("record", "b")]
    assert lives.current()["b"] == Live("id-b", {})


def test_apply_step_of_an_unchanged_adopted_resource_only_records_it(aws_env: None) -> None:
    kind = Toy()
    rec = FakeRecorder()
    found = Refreshed({"a": Live("id-a", {})}, {"a": "toy"})
    plan = make_plan([Desired("a", "toy", {})], found, {}, {"toy": kind})
    step = plan.step_by_key["a"]
    message = apply_step(ctx(aws_env), kind, step, rec, LiveValues(plan.step_by_key), Creation("L"))
    assert message == "adopted into state"
    assert kind.created == []
    assert rec.events == [("record", "a")]


def test_the_costliest_chain_goes_first_ties_in_order() -> None:
    a, b, c = ("a", Phase.APPLY), ("b", Phase.APPLY), ("c", Phase.APPLY)
    ready = [a, b, c]
    assert next_node(ready, {a: 1.0, b: 121.0, c: 121.0}) == b
    assert ready == [a, c]
    assert next_node(ready, {a: 1.0, c: 1.0}) == a


def test_a_failure_names_the_step_unless_it_is_smprovs_own() -> None:
    node = ("vpc", Phase.DESTROY)
    own = failure(node, AwsError("no", code="Boom"), 1.5)
    assert (own.status, own.message, own.elapsed) == (StepStatus.FAILED, "no", 1.5)
    other = failure(node, RuntimeError("surprise"), 0.0)
    assert other.error is not None and "destroy vpc" in other.message
