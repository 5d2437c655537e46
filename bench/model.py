"""A model of AWS's timing, laid over moto with botocore event hooks on the shared ``Clients``.

moto answers every call in a few milliseconds and makes a NAT gateway or an interface endpoint
``available`` (or ``deleted``) at once. On AWS a call takes tens of milliseconds and those
resources take minutes. The model, the same for every compared run:

- every call sleeps ``call_latency`` in the calling thread before it is sent (``before-call``);
- a ``Transition`` holds resources in AWS's in-between state for its duration: when the call that
  starts it returns (``after-call``), the resources' start times are noted and the create response
  is rewritten to the in-between state; every later describe response listing them is rewritten
  likewise (``after-call`` handlers get the parsed response, which the caller then receives) until
  the duration has passed, after which moto's own answer shows.

The in-between states last AWS's typical durations divided by ``time_scale`` (minutes become
seconds, so the benchmark runs in about a minute). A call keeps AWS's round trip: divided by 60
it would be 0.8 ms, less than moto's own CPU per call, and every comparison would measure the
emulator instead of smprov.

moto itself answers as ``--local`` runs it (``provisioner.emulator_fidelity``, applied by the
runner): what AWS does that moto does not (create-time tags, ...) is taught to moto, so smprov
sends what it sends on AWS.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from bench.trace import Tracer
from provisioner.aws.clients import Clients

#: AWS's typical round trip for one API call (seconds; not scaled, see the module docstring).
AWS_CALL_LATENCY = 0.050

Ids = Callable[[Mapping[str, Any], Mapping[str, Any]], list[str]]


def _nat_created(_params: Mapping[str, Any], parsed: Mapping[str, Any]) -> list[str]:
    return [parsed["NatGateway"]["NatGatewayId"]]


def _nat_deleted(params: Mapping[str, Any], _parsed: Mapping[str, Any]) -> list[str]:
    return [params["NatGatewayId"]]


def _interface_endpoint_created(_params: Mapping[str, Any], parsed: Mapping[str, Any]) -> list[str]:
    endpoint = parsed["VpcEndpoint"]
    # Gateway endpoints (S3, DynamoDB) are available at once on AWS too.
    is_interface = endpoint.get("VpcEndpointType", "Gateway") != "Gateway"
    return [endpoint["VpcEndpointId"]] if is_interface else []


def _endpoints_deleted(params: Mapping[str, Any], parsed: Mapping[str, Any]) -> list[str]:
    failed = {u.get("ResourceId") for u in parsed.get("Unsuccessful", [])}
    return [i for i in params.get("VpcEndpointIds", []) if i not in failed]


@dataclass(frozen=True)
class Transition:
    """A state AWS holds resources in for a while after a call; moto skips it."""

    label: str
    start_op: str
    describe_op: str
    list_key: str
    id_field: str
    #: The state AWS reports meanwhile ("pending", "deleting").
    state: str
    #: AWS's typical duration in seconds (before scaling).
    aws_seconds: float
    #: The ids the start call puts into the state, from its (API) params and parsed response.
    ids: Ids
    #: Where the start call's response holds the resource (rewritten too), if it does.
    response_key: str | None = None
    #: Only ids that went through this earlier transition (deleting an interface endpoint).
    after: str | None = None


TRANSITIONS: tuple[Transition, ...] = (
    Transition(
        "NAT gateway create",
        "CreateNatGateway",
        "DescribeNatGateways",
        "NatGateways",
        "NatGatewayId",
        "pending",
        120.0,
        _nat_created,
        response_key="NatGateway",
    ),
    Transition(
        "NAT gateway delete",
        "DeleteNatGateway",
        "DescribeNatGateways",
        "NatGateways",
        "NatGatewayId",
        "deleting",
        60.0,
        _nat_deleted,
    ),
    Transition(
        "interface endpoint create",
        "CreateVpcEndpoint",
        "DescribeVpcEndpoints",
        "VpcEndpoints",
        "VpcEndpointId",
        "pending",
        120.0,
        _interface_endpoint_created,
        response_key="VpcEndpoint",
    ),
    Transition(
        "interface endpoint delete",
        "DeleteVpcEndpoints",
        "DescribeVpcEndpoints",
        "VpcEndpoints",
        "VpcEndpointId",
        "deleting",
        60.0,
        _endpoints_deleted,
        after="interface endpoint create",
    ),
)


class AwsModel:
    """The latency and transition model, installed once per ``Clients``."""

    def __init__(
        self,
        time_scale: float,
        tracer: Tracer,
        transitions: tuple[Transition, ...] = TRANSITIONS,
    ) -> None:
        self.time_scale = time_scale
        self.call_latency = AWS_CALL_LATENCY
        self.transitions = transitions
        self._tracer = tracer
        self._lock = threading.Lock()
        self._local = threading.local()
        #: resource id -> (transition label, started at, ends at)
        self._active: dict[str, tuple[str, float, float]] = {}
        self._history: dict[str, set[str]] = {}

    def seconds(self, transition: Transition) -> float:
        return transition.aws_seconds / self.time_scale

    def install(self, clients: Clients) -> None:
        clients.add_hook("before-call.*.*", self._latency)
        for t in self.transitions:
            clients.add_hook(f"before-parameter-build.ec2.{t.start_op}", self._keep_params)
            clients.add_hook(f"after-call.ec2.{t.start_op}", self._started(t))
        for describe in {t.describe_op for t in self.transitions}:
            clients.add_hook(f"after-call.ec2.{describe}", self._described(describe))

    def describe(self) -> list[str]:
        """The model in words, for the report."""
        lines = [f"every call {AWS_CALL_LATENCY * 1000:.0f} ms"]
        lines += [
            f"{t.label} {t.aws_seconds:.0f} s ({t.state}; {self.seconds(t):.1f} s here)"
            for t in self.transitions
        ]
        return lines

    # -- hooks ----------------------------------------------------------------------------------

    def _latency(self, **_kwargs: Any) -> None:
        time.sleep(self.call_latency)

    def _keep_params(self, params: Mapping[str, Any], model: Any, **_kwargs: Any) -> None:
        if not hasattr(self._local, "params"):
            self._local.params = {}
        self._local.params[model.name] = dict(params)

    def _started(self, t: Transition) -> Callable[..., None]:
        def handler(parsed: dict[str, Any], **_kwargs: Any) -> None:
            if parsed.get("Error"):
                return
            params = getattr(self._local, "params", {}).get(t.start_op, {})
            now = time.monotonic()
            ends = now + self.seconds(t)
            started = []
            with self._lock:
                for rid in t.ids(params, parsed):
                    if t.after is not None and t.after not in self._history.get(rid, set()):
                        continue
                    self._active[rid] = (t.label, now, ends)
                    self._history.setdefault(rid, set()).add(t.label)
                    started.append(rid)
            if started:
                # The step that started it sits the transition out, then needs one look.
                self._tracer.add_wait(self.seconds(t) + self.call_latency, t.describe_op)
                if t.response_key and isinstance(parsed.get(t.response_key), dict):
                    parsed[t.response_key]["State"] = t.state

        return handler

    def _described(self, describe_op: str) -> Callable[..., None]:
        by_label = {t.label: t for t in self.transitions if t.describe_op == describe_op}
        list_key = next(iter(by_label.values())).list_key
        id_field = next(iter(by_label.values())).id_field

        def handler(parsed: dict[str, Any], **_kwargs: Any) -> None:
            now = time.monotonic()
            with self._lock:
                for item in parsed.get(list_key, []) or []:
                    active = self._active.get(item.get(id_field))
                    if active is None or active[0] not in by_label:
                        continue
                    label, _start, ends = active
                    if now < ends:
                        item["State"] = by_label[label].state

        return handler
