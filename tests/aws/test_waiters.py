"""The batched poller: one describe per round for every waiter, AWS's failure reasons, bounds.

Most tests drive the poller with a scripted EC2 client (AWS's ``pending`` states cannot be had from
moto, which makes NAT gateways ``available`` at once); the last ones run the NAT gateway kind on
moto with an ``after-call`` hook that answers as AWS does while a gateway comes up.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from provisioner import operations
from provisioner.aws.retry import Timing
from provisioner.aws.waiters import AVAILABLE, DELETED, wait_for
from provisioner.errors import AwsError
from provisioner.kinds import REGISTRY
from provisioner.kinds.nat_gateway import NatGateway
from tests.harness import Harness

#: How the NAT gateway kind polls: the poller's subject in most tests here.
NAT_GATEWAYS = NatGateway().polled
QUICK = Timing(poll_initial=0.02, poll_max=0.02, poll_factor=1.0, ready_timeout=5.0)


class ScriptedEc2:
    """Answers DescribeNatGateways from a script: each id's states, one per call that asks for
    it (the last repeats); ``None`` means "not listed"."""

    def __init__(self, script: Mapping[str, Sequence[str | None]], extra: Mapping[str, Any]):
        self.script = script
        self.extra = extra
        self.calls: list[list[str]] = []
        self._asked: dict[str, int] = {}
        self._lock = threading.Lock()

    def can_paginate(self, _method: str) -> bool:
        return False

    def describe_nat_gateways(self, Filter: list[dict[str, Any]]) -> dict[str, Any]:
        (only,) = Filter
        assert only["Name"] == "nat-gateway-id"
        ids = list(only["Values"])
        with self._lock:
            self.calls.append(ids)
            items = []
            for nat_id in ids:
                states = self.script.get(nat_id, [None])
                n = self._asked.get(nat_id, 0)
                self._asked[nat_id] = n + 1
                state = states[min(n, len(states) - 1)]
                if state is not None:
                    items.append({"NatGatewayId": nat_id, "State": state, **self.extra})
        return {"NatGateways": items}


class FakeClients:
    """Stands for ``Clients``: the poller keys its registry on it."""


@dataclass
class FakeCtx:
    ec2: Any
    timing: Timing = QUICK
    clients: FakeClients = field(default_factory=FakeClients)
    reports: list[str] = field(default_factory=list)

    def client(self, service: str) -> Any:
        assert service == "ec2"
        return self.ec2

    def report(self, message: str) -> None:
        self.reports.append(message)


def run_threads(fns: Sequence[Callable[[], Any]]) -> list[Any]:
    """Run each function in its own thread; their results (or exceptions), in order."""
    results: list[Any] = [None] * len(fns)

    def run(i: int) -> None:
        try:
            results[i] = fns[i]()
        except Exception as exc:
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(fns))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert not any(t.is_alive() for t in threads), "a waiter never returned"
    return results


def test_many_waiters_share_one_describe_per_round() -> None:
    ids = [f"nat-{i}" for i in range(6)]
    ec2 = ScriptedEc2({i: ["pending", "pending", "available"] for i in ids}, {})
    # Rounds 0.25 s apart: threads that start up to that far apart (a loaded machine) still
    # share the first round, so the count below does not depend on the scheduler.
    ctx = FakeCtx(ec2, Timing(poll_initial=0.25, poll_max=0.25, poll_factor=1.0, ready_timeout=5))
    results = run_threads([lambda i=i: wait_for(ctx, NAT_GATEWAYS, i, AVAILABLE) for i in ids])
    assert [r["NatGatewayId"] for r in results] == ids
    assert all(r["State"] == "available" for r in results)
    # Each id needs three looks; one poller per resource would make 18 calls.
    assert len(ec2.calls) <= 5
    assert max(len(call) for call in ec2.calls) == len(ids)
    assert all(len(call) == len(set(call)) for call in ec2.calls)


def test_waiters_for_different_clients_do_not_share_a_poller() -> None:
    a = ScriptedEc2({"nat-a": ["available"]}, {})
    b = ScriptedEc2({"nat-b": ["available"]}, {})
    got = run_threads(
        [
            lambda: wait_for(FakeCtx(a), NAT_GATEWAYS, "nat-a", AVAILABLE),
            lambda: wait_for(FakeCtx(b), NAT_GATEWAYS, "nat-b", AVAILABLE),
        ]
    )
    assert [g["NatGatewayId"] for g in got] == ["nat-a", "nat-b"]
    assert a.calls == [["nat-a"]] and b.calls == [["nat-b"]]


def test_failed_nat_gateway_reports_aws_reason() -> None:
    ec2 = ScriptedEc2(
        {"nat-1": ["pending", "failed"]},
        {
            "FailureCode": "InsufficientFreeAddressesInSubnet",
            "FailureMessage": "Subnet has insufficient free addresses to create this NAT gateway",
        },
    )
    with pytest.raises(AwsError) as err:
        wait_for(FakeCtx(ec2), NAT_GATEWAYS, "nat-1", AVAILABLE)
    assert err.value.code == "InsufficientFreeAddressesInSubnet"
    assert "nat-1 became failed" in err.value.message
    assert "insufficient free addresses" in err.value.message


def test_failure_without_a_code_still_names_the_state() -> None:
    ec2 = ScriptedEc2({"nat-1": ["deleted"]}, {})
    with pytest.raises(AwsError) as err:
        wait_for(FakeCtx(ec2), NAT_GATEWAYS, "nat-1", AVAILABLE)
    assert err.value.code == "NatGatewayDeleted"
    assert "became deleted" in err.value.message


def test_states_compare_without_case() -> None:
    ec2 = ScriptedEc2({"nat-1": ["Pending", "Available"]}, {})
    assert wait_for(FakeCtx(ec2), NAT_GATEWAYS, "nat-1", AVAILABLE)["State"] == "Available"


def test_timeout_names_the_bound_and_the_last_state() -> None:
    ec2 = ScriptedEc2({"nat-1": ["pending"]}, {})
    ctx = FakeCtx(ec2, timing=Timing(poll_initial=0.01, poll_max=0.05, ready_timeout=0.3))
    with pytest.raises(AwsError) as err:
        wait_for(ctx, NAT_GATEWAYS, "nat-1", AVAILABLE)
    assert err.value.code == "Timeout"
    assert "timed out after 0.3 s" in err.value.message
    assert "NAT gateway nat-1 to become available" in err.value.message
    assert "last state pending" in err.value.message
    # Capped backoff: a handful of looks in 0.3 s, not a busy loop.
    assert 3 <= len(ec2.calls) <= 30


def test_explicit_timeout_overrides_ready_timeout() -> None:
    ec2 = ScriptedEc2({}, {})
    with pytest.raises(AwsError, match=r"timed out after 0\.1 s .*\(not listed yet\)"):
        wait_for(FakeCtx(ec2), NAT_GATEWAYS, "nat-404", AVAILABLE, timeout=0.1)


def test_deleted_accepts_gone_and_deleted() -> None:
    ec2 = ScriptedEc2({"nat-1": ["deleting", "deleted"], "nat-2": ["deleting", None]}, {})
    ctx = FakeCtx(ec2)
    first, second = run_threads(
        [
            lambda: wait_for(ctx, NAT_GATEWAYS, "nat-1", DELETED),
            lambda: wait_for(ctx, NAT_GATEWAYS, "nat-2", DELETED),
        ]
    )
    assert first["State"] == "deleted"
    assert second is None


def test_waiters_with_mixed_outcomes_each_get_their_own() -> None:
    """Many threads, one poller: results never cross between waiters."""
    script: dict[str, list[str | None]] = {}
    for i in range(24):
        kind = i % 3
        script[f"nat-{i}"] = (
            ["pending"] * (i % 4) + ["available"]
            if kind == 0
            else ["pending"] * (i % 5) + ["failed"]
            if kind == 1
            else ["deleting"] * (i % 3) + [None]
        )
    ec2 = ScriptedEc2(script, {})
    ctx = FakeCtx(ec2)
    fns = [
        (lambda i=i: wait_for(ctx, NAT_GATEWAYS, i, DELETED))
        if script[i][-1] is None
        else (lambda i=i: wait_for(ctx, NAT_GATEWAYS, i, AVAILABLE))
        for i in script
    ]
    results = run_threads(fns)
    for nat_id, result in zip(script, results, strict=True):
        last = script[nat_id][-1]
        if last == "available":
            assert result["NatGatewayId"] == nat_id
        elif last == "failed":
            assert isinstance(result, AwsError) and nat_id in result.message
        else:
            assert result is None
    assert max(len(call) for call in ec2.calls) > 1


def test_poller_restarts_after_going_idle() -> None:
    ec2 = ScriptedEc2({"nat-1": ["available"], "nat-2": ["pending", "available"]}, {})
    ctx = FakeCtx(ec2)
    assert wait_for(ctx, NAT_GATEWAYS, "nat-1", AVAILABLE)["State"] == "available"
    assert wait_for(ctx, NAT_GATEWAYS, "nat-2", AVAILABLE)["State"] == "available"
    assert ctx.reports == [
        "waiting for NAT gateway nat-1 to become available",
        "waiting for NAT gateway nat-2 to become available",
    ]


def test_describe_errors_reach_every_waiter() -> None:
    class Denied(ScriptedEc2):
        def describe_nat_gateways(self, Filter: list[dict[str, Any]]) -> dict[str, Any]:
            from botocore.exceptions import ClientError

            raise ClientError(
                {"Error": {"Code": "UnauthorizedOperation", "Message": "not allowed"}},
                "DescribeNatGateways",
            )

    ctx = FakeCtx(Denied({}, {}))
    results = run_threads(
        [lambda i=i: wait_for(ctx, NAT_GATEWAYS, i, AVAILABLE) for i in ("nat-1", "nat-2")]
    )
    assert all(isinstance(r, AwsError) and r.code == "UnauthorizedOperation" for r in results)


def test_process_exit_in_the_poll_loop_reaches_the_waiter_as_is() -> None:
    class Exit(BaseException):
        pass

    class Dying(ScriptedEc2):
        def describe_nat_gateways(self, Filter: list[dict[str, Any]]) -> dict[str, Any]:
            raise Exit()

    with pytest.raises(Exit):
        wait_for(FakeCtx(Dying({}, {})), NAT_GATEWAYS, "nat-1", AVAILABLE)
    # The loop is gone and a later wait starts a new one.
    ec2 = ScriptedEc2({"nat-2": ["available"]}, {})
    assert wait_for(FakeCtx(ec2), NAT_GATEWAYS, "nat-2", AVAILABLE)["State"] == "available"


def test_endpoint_failure_reason_comes_from_last_error() -> None:
    raw = {"State": "failed", "LastError": {"Code": "Quota", "Message": "too many endpoints"}}
    assert REGISTRY["vpc_endpoint"].failure(raw) == ("Quota", "too many endpoints")


# --- the NAT gateway kind on moto, with AWS's pending phase simulated ---------------------------


class PendingNat:
    """Answers as AWS does: a new NAT gateway stays ``pending`` until ``together`` gateways
    exist, then for ``looks`` more describes that include it; then ``final`` (or moto's own)."""

    def __init__(self, looks: int, together: int = 1, final: Mapping[str, Any] | None = None):
        self.looks = looks
        self.together = together
        self.final = final
        #: The id filter of every DescribeNatGateways sent once all gateways were created.
        self.filters: list[list[str]] = []
        self._seen: dict[str, int] = {}
        self._lock = threading.Lock()

    def install(self, harness: Harness) -> None:
        hooks = harness.clients.add_hook
        hooks("before-parameter-build.ec2.DescribeNatGateways", self.before)
        hooks("after-call.ec2.CreateNatGateway", self.created)
        hooks("after-call.ec2.DescribeNatGateways", self.described)

    def before(self, params: Mapping[str, Any], **_: Any) -> None:
        with self._lock:
            if len(self._seen) < self.together:
                return
        for f in params.get("Filter", []):
            if f["Name"] == "nat-gateway-id":
                self.filters.append(list(f["Values"]))

    def created(self, parsed: dict[str, Any], **_: Any) -> None:
        parsed["NatGateway"]["State"] = "pending"
        with self._lock:
            self._seen[parsed["NatGateway"]["NatGatewayId"]] = 0

    def described(self, parsed: dict[str, Any], **_: Any) -> None:
        with self._lock:
            everyone_made = len(self._seen) >= self.together
            for item in parsed.get("NatGateways", []):
                nat_id = item["NatGatewayId"]
                if nat_id not in self._seen:
                    continue
                if everyone_made:
                    self._seen[nat_id] += 1
                if not everyone_made or self._seen[nat_id] <= self.looks:
                    item["State"] = "pending"
                elif self.final is not None:
                    item.update(self.final)


REDUNDANT = """
    environment = "wait"
    availability_zones = 3
    vpc_redundancy = true
"""


def test_nat_gateways_of_a_stack_are_polled_together(harness: Harness) -> None:
    harness.write_config(REDUNDANT)
    harness.timing = Timing(poll_initial=0.05, poll_max=0.05, poll_factor=1.0, ready_timeout=10)
    model = PendingNat(looks=3, together=3)
    model.install(harness)
    _plan, report, state = harness.up()
    assert report.ok
    nat_ids = {state.resources[f"nat_gateway.us-east-1{z}"].id for z in "abc"}
    # Once all three exist, each is pending for three more looks: one describe per round asks
    # for all of them (a poller per gateway would send nine single-id calls). The last gateway's
    # waiter may join a round late (it registers after its create returns): one round more.
    assert any(set(f) == nat_ids for f in model.filters)
    assert len(model.filters) <= 5
    assert all(len(f) == len(set(f)) for f in model.filters)


def test_failed_nat_gateway_fails_its_step_with_aws_reason(harness: Harness) -> None:
    harness.write_config(REDUNDANT)
    PendingNat(
        looks=1,
        together=3,
        final={
            "State": "failed",
            "FailureCode": "Gateway.NotAttached",
            "FailureMessage": "Network vpc-1 has no Internet gateway attached",
        },
    ).install(harness)
    stk = harness.open()
    with operations.locked(stk, "up") as doc:
        plan, _ = operations.plan_up(stk, doc)
        report, _final = operations.execute(stk, plan, doc)
    failed = {node[0]: result for node, result in report.failed}
    assert set(failed) == {f"nat_gateway.us-east-1{z}" for z in "abc"}
    for result in failed.values():
        assert result.error is not None and result.error.code == "Gateway.NotAttached"
        assert "has no Internet gateway attached" in result.message
