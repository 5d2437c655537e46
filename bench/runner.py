"""Run smprov's operations in-process against moto and measure each one.

A scenario is one stack (a ``smprov.toml``, or none for the default stack), one parallelism and
either the AWS timing model or plain moto. Its four operations run in order on a fresh moto:
cold ``up``, no-change ``up``, ``plan``, ``down``. Each operation is what one CLI invocation does
(``provisioner.operations``: open, lock, refresh, plan, apply) with its own ``Clients``, built
inside the timed region as the CLI builds them; only moto's own start-up (importing its EC2
backend, the emulator's cost, not smprov's) happens once before any timing.
"""

from __future__ import annotations

import gc
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.critical import CriticalPath, lower_bound
from bench.model import AwsModel
from bench.trace import Tracer, traced
from provisioner import operations
from provisioner.aws.clients import Clients
from provisioner.aws.retry import Timing
from provisioner.engine.graph import Graph
from provisioner.engine.planner import Node
from provisioner.errors import SmprovError
from provisioner.store.backend import StateBackend
from provisioner.store.document import StateDocument

REGION = "us-east-1"
OPERATIONS = ("cold up", "no-change up", "plan", "down")


class BenchError(SmprovError):
    """A benchmarked operation did not do what it must (failed, or did not converge)."""


@dataclass(frozen=True)
class Scenario:
    stack: str
    #: smprov.toml text; empty for the default stack (no file at all).
    config: str
    parallelism: int
    simulated: bool

    @property
    def label(self) -> str:
        mode = "model" if self.simulated else "plain moto"
        return f"{self.stack}, p={self.parallelism}, {mode}"


def default_stack(parallelism: int = 10, *, simulated: bool = True) -> Scenario:
    return Scenario("default", "", parallelism, simulated)


def redundant_stack(zones: int, parallelism: int = 10, *, simulated: bool = True) -> Scenario:
    config = f"availability_zones = {zones}\nvpc_redundancy = true\n"
    return Scenario(f"{zones} AZ redundant", config, parallelism, simulated)


@dataclass(frozen=True)
class OpResult:
    scenario: Scenario
    op: str
    wall: float
    reads: int
    mutating: int
    #: Reads of the refresh alone (not identity, zones or preflight).
    refresh_reads: int
    #: Reads sent while applying but by no step: the shared pollers' describes.
    poll_reads: int
    kinds: int
    kind_names: tuple[str, ...]
    resources: int
    changes: int
    #: State writes and the seconds they took (each one fsynced before the step goes on).
    state_writes: int
    state_write_seconds: float
    call_latency: float
    graph: Graph[Node]
    node_operations: dict[Node, list[str]]
    waits: dict[Node, float]
    local_times: list[tuple[str, float]]
    #: CPU seconds of the whole process (smprov, botocore and in-process moto alike).
    cpu: float = 0.0
    #: Wall seconds of start-up (clients, identity, zones), refresh+plan, and apply.
    phases: dict[str, float] = field(default_factory=dict)
    read_operations: Counter[str] = field(default_factory=Counter)
    reads_by_kind: dict[str, list[str]] = field(default_factory=dict)
    mutating_by_key: dict[str, list[str]] = field(default_factory=dict)
    #: Mutating calls from threads no step runs on (boto3's managed S3 transfer).
    helper_mutating: list[str] = field(default_factory=list)
    #: The reads of start-up and refresh, by operation name (before anything is applied).
    first_reads: list[str] = field(default_factory=list)

    @property
    def requests(self) -> int:
        return self.reads + self.mutating

    def bound(self, emulator: dict[str, float] | None = None) -> CriticalPath:
        """The critical-path lower bound: the model alone, or plus the emulator's costs."""
        return lower_bound(
            self.graph,
            self.node_operations,
            self.waits,
            self.call_latency,
            emulator,
            reads=self.first_reads,
        )

    def ratio(self, emulator: dict[str, float] | None = None) -> float:
        bound = self.bound(emulator).seconds
        return self.wall / bound if bound > 0 else float("inf")


class TimedBackend:
    """The stack's state backend, timing each write (reads, locks: the backend's own)."""

    def __init__(self, inner: StateBackend) -> None:
        self._inner = inner
        self.writes = 0
        self.seconds = 0.0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def write(self, doc: StateDocument) -> None:
        started = time.monotonic()
        try:
            self._inner.write(doc)
        finally:
            self.writes += 1
            self.seconds += time.monotonic() - started


def scaled_timing(time_scale: float) -> Timing:
    """smprov's real polling and timeouts, divided by the model's time scale."""
    base = Timing()
    return Timing(
        poll_initial=base.poll_initial / time_scale,
        poll_max=base.poll_max / time_scale,
        poll_factor=base.poll_factor,
        ready_timeout=base.ready_timeout / time_scale,
        consistency_timeout=base.consistency_timeout / time_scale,
        dependency_timeout=base.dependency_timeout / time_scale,
    )


def warm_emulator() -> float:
    """Import moto's backends once (several seconds, the emulator's start-up); returns it.

    Also moto as ``--local`` and the tests run it (``provisioner.emulator``): answering as AWS
    does where moto does not (``behave_like_aws``: e.g. create-time tags, so a cold up sends
    what it sends on AWS), ``speed_up`` (the same answers at a fraction of moto's CPU per call,
    which would otherwise stand in for latency) and ``serialize_requests`` (moto's backends are
    not thread-safe)."""
    from moto import mock_aws

    from provisioner.emulator import serialize_requests, speed_up
    from provisioner.emulator_fidelity import behave_like_aws

    started = time.monotonic()
    behave_like_aws()
    speed_up()
    serialize_requests()
    with mock_aws():
        clients = Clients(REGION)
        clients("sts").get_caller_identity()
        clients("ec2").describe_vpcs()
    return time.monotonic() - started


def _prime_region() -> None:
    """A fresh moto builds its EC2 region (default VPC, subnets, groups) on the first call into
    it: emulator start-up, done here untimed. Otherwise a cold up's first reads pay it, twice
    when two of them race to build it."""
    Clients(REGION)("ec2").describe_availability_zones()


def run_scenario(scenario: Scenario, *, time_scale: float) -> list[OpResult]:
    """The four operations of ``scenario`` on a fresh moto, in order."""
    from moto import mock_aws

    tracer = Tracer()
    model = AwsModel(time_scale, tracer) if scenario.simulated else None
    timing = scaled_timing(time_scale) if scenario.simulated else Timing()
    latency = model.call_latency if model is not None else 0.0

    def new_clients() -> Clients:
        clients = Clients(REGION)
        clients.add_hook("before-call.*.*", tracer.hook)
        if model is not None:
            model.install(clients)
        # After the model's latency: what a call costs here, botocore and moto.
        clients.add_hook("before-call.*.*", tracer.call_started)
        clients.add_hook("after-call.*.*", tracer.call_finished)
        return clients

    with mock_aws(), tempfile.TemporaryDirectory(prefix="smprov-bench-") as tmp:
        _prime_region()
        work = Path(tmp)
        if scenario.config:
            (work / "smprov.toml").write_text(scenario.config)
        results = []
        try:
            for op in OPERATIONS:
                _freeze_heap()
                results.append(
                    _run_operation(
                        scenario, op, work, new_clients, tracer, timing=timing, latency=latency
                    )
                )
        finally:
            gc.unfreeze()
            gc.collect()
        return results


def _freeze_heap() -> None:
    """Keep what exists before an operation (mostly moto's backends and catalogues, some 350,000
    objects) out of the garbage collector's passes: a full pass over them stops every thread for
    0.1-0.4 s at a random moment of the timed operation, while smprov's own process against AWS
    holds a small fraction of that heap. The operation's own objects are collected as usual;
    the scenario thaws everything at its end."""
    gc.collect()
    gc.freeze()


def _run_operation(
    scenario: Scenario,
    op: str,
    work: Path,
    new_clients: Callable[[], Clients],
    tracer: Tracer,
    *,
    timing: Timing,
    latency: float,
) -> OpResult:
    tracer.reset()
    keys_by_id: dict[str, str] = {}
    started, cpu_started = time.monotonic(), time.process_time()
    options = operations.Options(
        cwd=work,
        clients=new_clients(),
        timing=timing,
        parallelism=scenario.parallelism,
        preflight=op != "down",  # as `smprov down` does: a teardown skips the preflight
    )
    stk = operations.open_stack(options)
    opened = time.monotonic()
    stk.kinds = traced(stk.kinds, tracer, keys_by_id)
    backend = TimedBackend(stk.backend)
    stk.backend = backend  # type: ignore[assignment]
    tracer.phase = "refresh"
    with operations.locked(stk, "plan" if op == "plan" else op.split()[-1]) as doc:
        plan, _ = (operations.plan_down if op == "down" else operations.plan_up)(stk, doc)
        planned = time.monotonic()
        tracer.phase = "apply"
        if op != "plan":
            keys_by_id.update({s.live.id: s.key for s in plan.steps if s.live is not None})
            # A full teardown: what `down --delete-data --delete-logs` removes.
            flags = {"delete_data": True, "delete_logs": True} if op == "down" else {}
            report, final = operations.execute(stk, plan, doc, **flags)
            if not report.ok:
                failed = "; ".join(f"{node[0]}: {r.message}" for node, r in report.failed)
                raise BenchError(f"{scenario.label}: {op} failed: {failed}")
            if op == "down" and final.resources:
                raise BenchError(f"{scenario.label}: down left {sorted(final.resources)}")
    ended = time.monotonic()
    wall, cpu = ended - started, time.process_time() - cpu_started
    if op in ("no-change up", "plan") and not plan.is_empty:
        changed = ", ".join(f"{s.key} ({s.action.value})" for s in plan.changes)
        raise BenchError(f"{scenario.label}: {op} after a cold up is not empty: {changed}")
    return OpResult(
        scenario=scenario,
        op=op,
        wall=wall,
        reads=tracer.count(mutating=False),
        mutating=tracer.count(mutating=True),
        refresh_reads=tracer.count(mutating=False, phase="refresh"),
        poll_reads=sum(1 for c in tracer.calls if c.phase == "apply" and c.node is None),
        kinds=len({s.kind for s in plan.steps}),
        kind_names=tuple(sorted({s.kind for s in plan.steps})),
        resources=len(plan.steps),
        changes=len(plan.changes),
        state_writes=backend.writes,
        state_write_seconds=backend.seconds,
        call_latency=latency,
        graph=plan.graph,
        node_operations=tracer.operations_by_node(),
        waits=dict(tracer.waits),
        local_times=list(tracer.local_times),
        cpu=cpu,
        phases={
            "start-up": opened - started,
            "refresh+plan": planned - opened,
            "apply": ended - planned,
        },
        read_operations=tracer.operations(mutating=False),
        reads_by_kind=tracer.reads_by_kind(),
        mutating_by_key=tracer.mutating_by_key(),
        helper_mutating=tracer.helper_mutating(),
        first_reads=[
            c.operation for c in tracer.calls if c.phase in ("open", "refresh") and not c.mutating
        ],
    )
