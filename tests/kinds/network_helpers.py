"""Shared pieces of the flow-log, endpoint and VPC-default tests.

``MiniStack`` runs a slice of the real blueprint (the resources asked for and what they refer
to) through the real engine -- refresh, plan, apply, with an in-memory recorder -- against
in-process moto. A slice takes a fraction of the time of the whole stack, so each kind's
create / no-op / update / delete can be tested on its own. The hooks below stand in for AWS
where moto differs.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError

from provisioner import blueprint
from provisioner.aws.clients import Clients
from provisioner.aws.retry import FAST
from provisioner.config import load_config
from provisioner.engine.contract import Ctx
from provisioner.engine.executor import ApplyReport, apply
from provisioner.engine.model import Desired, Recorded
from provisioner.engine.planner import Plan, make_plan
from provisioner.engine.refresh import refresh
from provisioner.kinds import REGISTRY
from tests.harness import CallLog

ACCOUNT = "123456789012"
REGION = "us-east-1"
ZONES = ("us-east-1a", "us-east-1b", "us-east-1c")


def desired_for(
    tmp: Path, roots: Iterable[str], toml: str = "", *, extra: Iterable[str] = ()
) -> list[Desired]:
    """The blueprint's resources ``roots`` and everything they depend on, for this config."""
    (tmp / "smprov.toml").write_text(textwrap.dedent(toml))
    config = load_config(None, cwd=tmp).resolve(ZONES)
    every = {d.key: d for d in blueprint.build(config, account=ACCOUNT)}
    keep: set[str] = set()
    todo = [*roots, *extra]
    while todo:
        key = todo.pop()
        if key not in keep:
            keep.add(key)
            todo.extend(every[key].depends_on)
    return [d for key, d in every.items() if key in keep]


@dataclass
class MemoryRecorder:
    """The executor's recorder, in memory; attrs must be plain JSON like the real state's."""

    resources: dict[str, Recorded] = field(default_factory=dict)
    attrs: dict[str, dict[str, Any]] = field(default_factory=dict)
    intents: dict[str, str] = field(default_factory=dict)
    kept: dict[str, str | None] = field(default_factory=dict)

    def record(
        self, key: str, kind: str, id: str, attrs: Mapping[str, Any], depends_on: list[str]
    ) -> None:
        self.resources[key] = Recorded(kind, id, frozenset(depends_on))
        self.attrs[key] = json.loads(json.dumps(dict(attrs)))
        self.intents.pop(key, None)

    def keep(self, key: str, reason: str | None) -> None:
        self.kept[key] = reason

    def forget(self, key: str, *, wait: bool = True) -> None:
        self.resources.pop(key, None)
        self.attrs.pop(key, None)
        self.intents.pop(key, None)

    def intend(self, key: str, kind: str, token: str, name: str | None = None) -> None:
        self.intents[key] = token

    def clear_intent(self, key: str) -> None:
        self.intents.pop(key, None)


@dataclass
class MiniStack:
    clients: Clients
    log: CallLog = field(default_factory=CallLog)
    state: MemoryRecorder = field(default_factory=MemoryRecorder)

    @classmethod
    def start(cls) -> MiniStack:
        stack = cls(Clients(REGION, max_attempts=1))
        stack.clients.add_hook("before-call.*.*", stack.log.hook)
        return stack

    def ctx(self, **flags: Any) -> Ctx:
        return Ctx(
            clients=self.clients,
            stack="dev",
            region=REGION,
            account=ACCOUNT,
            parallelism=10,
            timing=FAST,
            **flags,
        )

    def plan(self, desired: Sequence[Desired], *, destroy: bool = False) -> Plan:
        recorded = dict(self.state.resources)
        found = refresh(self.ctx(), REGISTRY, desired, recorded)
        if destroy:
            return make_plan([], found, recorded, REGISTRY, hints=desired)
        return make_plan(desired, found, recorded, REGISTRY)

    def run(
        self, desired: Sequence[Desired], *, destroy: bool = False, **flags: Any
    ) -> tuple[Plan, ApplyReport]:
        """Plan and apply; the report says what failed (tests of failures look at it)."""
        plan = self.plan(desired, destroy=destroy)
        report = apply(
            plan,
            self.ctx(**flags),
            self.state,
            REGISTRY,
            lineage="test",
            intents=dict(self.state.intents),
        )
        return plan, report

    def up(self, desired: Sequence[Desired], **flags: Any) -> Plan:
        plan, report = self.run(desired, **flags)
        assert report.ok, [(node, r.message) for node, r in report.failed]
        return plan

    def down(self, desired: Sequence[Desired], **flags: Any) -> Plan:
        plan, report = self.run(desired, destroy=True, **flags)
        assert report.ok, [(node, r.message) for node, r in report.failed]
        return plan

    def id(self, key: str) -> str:
        return self.state.resources[key].id

    @property
    def ec2(self) -> Any:
        return self.clients("ec2")


def aws_error(code: str, message: str, operation: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, operation)


def answer(parsed: dict[str, Any], status: int = 200) -> tuple[AWSResponse, dict[str, Any]]:
    """What a ``before-call`` hook returns to answer a call in AWS's place."""
    return AWSResponse("https://ec2.us-east-1.amazonaws.com/", status, {}, None), parsed


@dataclass
class Sent:
    """Records the parameters of every call to one operation (``before-parameter-build``)."""

    calls: list[dict[str, Any]] = field(default_factory=list)

    def hook(self, params: dict[str, Any], **_: Any) -> None:
        self.calls.append(dict(params))


def failing(times: int, error: Callable[[], Exception]) -> Callable[..., None]:
    """A ``before-call`` hook that raises ``error()`` the first ``times`` calls, then lets the
    call through to moto."""
    left = [times]

    def hook(**_: Any) -> None:
        if left[0] > 0:
            left[0] -= 1
            raise error()

    return hook
