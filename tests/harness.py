"""Run smprov's operations in-process against moto, counting every AWS call.

A ``Harness`` is one working directory (config + state) and one shared ``Clients`` whose botocore
event hooks log each call, so tests can assert exact call counts (they are deterministic).
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from provisioner import operations
from provisioner.aws.clients import Clients, is_read_operation
from provisioner.aws.retry import FAST, Timing
from provisioner.engine.executor import ApplyReport
from provisioner.engine.planner import Plan
from provisioner.store.document import StateDocument


@dataclass
class CallLog:
    """Every AWS operation sent, in order, as (service, operation)."""

    calls: list[tuple[str, str]] = field(default_factory=list)

    def hook(self, model: Any, **_kwargs: Any) -> None:
        self.calls.append((model.service_model.service_name, model.name))

    def clear(self) -> None:
        self.calls.clear()

    @property
    def mutating(self) -> list[str]:
        return [op for _svc, op in self.calls if not is_read_operation(op)]

    @property
    def reads(self) -> list[str]:
        return [op for _svc, op in self.calls if is_read_operation(op)]

    def count(self, operation: str) -> int:
        return sum(1 for _svc, op in self.calls if op == operation)


@dataclass
class Harness:
    workdir: Path
    region: str = "us-east-1"
    timing: Timing = FAST
    log: CallLog = field(default_factory=CallLog)
    clients: Clients = field(init=False)

    def __post_init__(self) -> None:
        self.clients = Clients(self.region, max_attempts=1)
        self.clients.add_hook("before-call.*.*", self.log.hook)

    def write_config(self, text: str) -> None:
        (self.workdir / "smprov.toml").write_text(textwrap.dedent(text))

    def options(self, **overrides: Any) -> operations.Options:
        return operations.Options(
            cwd=self.workdir, clients=self.clients, timing=self.timing, **overrides
        )

    def open(self, **overrides: Any) -> operations.Stack:
        return operations.open_stack(self.options(**overrides))

    def plan(self, *, destroy: bool = False, **overrides: Any) -> Plan:
        with operations.session(self.options(**overrides), "plan") as (stk, doc):
            plan, _ = (operations.plan_down if destroy else operations.plan_up)(stk, doc)
        return plan

    def up(self, **flags: Any) -> tuple[Plan, ApplyReport, StateDocument]:
        return self._run(operations.plan_up, "up", **flags)

    def down(self, **flags: Any) -> tuple[Plan, ApplyReport, StateDocument]:
        return self._run(operations.plan_down, "down", **flags)

    def _run(
        self, planner: Callable[..., Any], op: str, **flags: Any
    ) -> tuple[Plan, ApplyReport, StateDocument]:
        with operations.session(self.options(), op) as (stk, doc):
            plan, _ = planner(stk, doc)
            report, final = operations.execute(stk, plan, doc, **flags)
        failed = [(node, r.message) for node, r in report.failed]
        assert not failed, f"{op} failed: {failed}"
        return plan, report, final

    def import_(self) -> operations.Takeover:
        """`smprov import`: take the stack over into this directory's state."""
        with operations.session(self.options(), "import") as (stk, doc):
            return operations.adopt_into_state(stk, doc)

    def state(self) -> StateDocument | None:
        return self.open().backend.read()

    @property
    def ec2(self) -> Any:
        return self.clients("ec2")
