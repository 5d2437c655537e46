"""Faults AWS really produces, injected with botocore event hooks on top of moto.

- Throttling and 5xx answers are retried by botocore's ``standard`` retry mode, configured once in
  ``aws/clients.py``: a ``before-send`` hook answers with the real error body a few times before
  the request reaches moto. (botocore's backoff sleep is set to zero: the test is about whether a
  call is retried, not for how long.)
- Eventual consistency (a resource just created is not yet visible; a new IAM role not yet
  assumable): a ``before-call`` hook answers with AWS's error, so the kind's bounded retry is what
  recovers, and the message names the bound when it gives up.
- ``DependencyViolation`` on delete: retried while AWS detaches; when a network interface smprov
  did not create keeps the subnet busy, the error names it.
- A failure mid-run: the state records exactly what exists, and the next `up` finishes the job.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError
from botocore.retries.standard import ExponentialBackoff

from provisioner import operations
from provisioner.aws.clients import Clients
from provisioner.aws.retry import FAST
from provisioner.engine.contract import KEY_TAG
from provisioner.errors import AwsError
from provisioner.kinds.flow_log import ROLE_NOT_READY_CODE, ROLE_NOT_READY_MESSAGE
from tests.test_crash_matrix import (
    CONFIG,
    REGION,
    Account,
    KillSwitch,
    compare,
    fake_aws_env,
    fresh_account,
    plan_only,
    run,
    stack_items,
)


class _Body:
    """The raw stream botocore reads an injected response's body from."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_kwargs: Any) -> Iterator[bytes]:
        yield self._body


def aws_error(service: str, code: str, status: int) -> AWSResponse:
    """An error response exactly as the service's protocol sends it."""
    if service in ("logs", "cloudwatch-logs"):  # JSON protocol
        body = f'{{"__type": "{code}", "message": "Rate exceeded"}}'
        headers = {"Content-Type": "application/x-amz-json-1.1"}
    elif service == "s3":  # REST-XML
        body = (
            f"<Error><Code>{code}</Code><Message>Please reduce your request rate.</Message></Error>"
        )
        headers = {"Content-Type": "application/xml"}
    elif service == "ec2":
        body = (
            f"<Response><Errors><Error><Code>{code}</Code><Message>Request limit exceeded."
            "</Message></Error></Errors><RequestID>r-1</RequestID></Response>"
        )
        headers = {"Content-Type": "text/xml"}
    else:  # query protocol: IAM, STS, RDS
        body = (
            f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>Rate exceeded"
            "</Message></Error><RequestId>r-1</RequestId></ErrorResponse>"
        )
        headers = {"Content-Type": "text/xml"}
    return AWSResponse("https://aws.example", status, headers, _Body(body.encode()))


class MotoGate:
    """Keeps moto from executing a request that AWS would refuse.

    botocore calls every ``before-send`` handler and uses the first answer; moto's handler would
    still execute the request behind an injected throttle, making it a "done, but the answer was
    lost" fault instead. A throttled request does nothing on AWS, so the gate switches moto's
    stubber off for that one send and back on right after moto's handler (registered after it).
    Only for runs at parallelism 1: the switch is process-wide.
    """

    def __init__(self, clients: Clients) -> None:
        from moto.core.models import botocore_stubber

        self._stubber = botocore_stubber
        self._closed = False
        clients.add_hook("before-send", self._reopen)

    def refuse(self, response: AWSResponse) -> AWSResponse:
        self._stubber.enabled = False
        self._closed = True
        return response

    def _reopen(self, **_kwargs: Any) -> None:
        if self._closed:
            self._stubber.enabled = True
            self._closed = False


@dataclass
class SendFaults:
    """Answers the first ``times`` sends of an operation with an error, then lets them through."""

    gate: MotoGate
    service: str
    code: str
    status: int
    times: int
    sent: int = 0

    def __call__(self, **_kwargs: Any) -> AWSResponse | None:
        self.sent += 1
        if self.sent <= self.times:
            return self.gate.refuse(aws_error(self.service, self.code, self.status))
        return None


@pytest.fixture
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ExponentialBackoff, "delay_amount", lambda _self, _context: 0.0)


@pytest.fixture
def moto_env() -> Iterator[None]:
    from moto import mock_aws

    with fake_aws_env(), mock_aws():
        yield


THROTTLES = [
    ("ec2", "DescribeVpcs", {}, "RequestLimitExceeded", 400),
    ("ec2", "CreateVpc", {"CidrBlock": "10.9.0.0/16"}, "RequestLimitExceeded", 400),
    ("iam", "ListRoles", {}, "Throttling", 400),
    ("s3", "ListBuckets", {}, "SlowDown", 503),
    ("logs", "DescribeLogGroups", {}, "ThrottlingException", 400),
    ("ec2", "DescribeSubnets", {}, "InternalError", 500),
    ("ec2", "CreateInternetGateway", {}, "Unavailable", 503),
]


@pytest.mark.parametrize(("service", "operation", "params", "code", "status"), THROTTLES)
def test_throttling_and_5xx_are_retried_by_botocore(
    moto_env: None,
    no_backoff: None,
    service: str,
    operation: str,
    params: dict[str, Any],
    code: str,
    status: int,
) -> None:
    clients = Clients(REGION)  # as smprov builds them (the tests' harness allows 1 retry)
    retries = clients(service).meta.config.retries
    assert retries["mode"] == "standard"
    attempts = retries["total_max_attempts"]
    assert attempts >= 5  # enough to ride out a burst of throttling
    gate = MotoGate(clients)
    fault = SendFaults(gate, service, code, status, times=attempts - 1)
    clients.add_hook(f"before-send.{service}.{operation}", fault)
    method = getattr(clients(service), _snake(operation))
    method(**params)  # answered on the last attempt
    assert fault.sent == attempts
    if operation == "CreateVpc":  # throttled requests did nothing: one VPC, not `attempts`
        vpcs = clients("ec2").describe_vpcs(Filters=[{"Name": "cidr", "Values": ["10.9.0.0/16"]}])
        assert len(vpcs["Vpcs"]) == 1

    again = SendFaults(gate, service, code, status, times=attempts)
    clients.add_hook(f"before-send.{service}.{operation}", again)
    with pytest.raises(ClientError) as raised:
        method(**params)
    assert raised.value.response["Error"]["Code"] == code
    assert again.sent == attempts


def test_a_whole_up_survives_throttling_on_every_first_attempt(
    moto_env: None, no_backoff: None, tmp_path: Path
) -> None:
    """Every call of a cold `up` is throttled once, then answered: the stack is complete."""
    clients = Clients(REGION)
    gate = MotoGate(clients)
    fresh_call = threading.local()
    throttled: list[str] = []

    def new_call(**_kwargs: Any) -> None:
        fresh_call.value = True

    def throttle_first_send(event_name: str, **_kwargs: Any) -> AWSResponse | None:
        if not getattr(fresh_call, "value", False):
            return None
        fresh_call.value = False
        service = event_name.split(".")[1]
        throttled.append(event_name)
        return gate.refuse(aws_error(service, THROTTLE_CODE.get(service, "Throttling"), 400))

    clients.add_hook("before-call.*.*", new_call)
    clients.add_hook("before-send.*.*", throttle_first_send)
    (tmp_path / "smprov.toml").write_text(CONFIG)  # parallelism 1: the gate is process-wide
    stk = operations.open_stack(operations.Options(cwd=tmp_path, clients=clients, timing=FAST))
    with operations.locked(stk, "up") as doc:
        plan, _ = operations.plan_up(stk, doc)
        report, final = operations.execute(stk, plan, doc)
    assert report.ok, [(node, r.message) for node, r in report.failed]
    assert len(throttled) > 50
    assert len(final.resources) == len(plan.steps)
    vpcs = clients("ec2").describe_vpcs(Filters=[{"Name": "tag:smprov:key", "Values": ["vpc"]}])
    assert len(vpcs["Vpcs"]) == 1


# -- eventual consistency, DependencyViolation, failures mid-run -----------------------------


@dataclass
class CallFaults:
    """``before-call``: answer matching calls with AWS's error instead of sending them."""

    code: str
    message: str = "injected"
    #: How many matching calls fail (None: all of them).
    times: int | None = None
    match: Callable[[dict[str, Any]], bool] = lambda _params: True
    failed: int = 0
    params: dict[int, dict[str, Any]] = field(default_factory=dict)

    def remember(self, params: dict[str, Any], context: dict[str, Any], **_kw: Any) -> None:
        context["fault_params"] = dict(params)

    def __call__(self, context: dict[str, Any], **_kwargs: Any) -> Any:
        if not self.match(context.get("fault_params", {})):
            return None
        if self.times is not None and self.failed >= self.times:
            return None
        self.failed += 1
        parsed = {"Error": {"Code": self.code, "Message": self.message}, "ResponseMetadata": {}}
        return AWSResponse("https://aws.example", 400, {}, _Body(b"")), parsed

    def install(self, clients: Clients, operation: str) -> None:
        clients.add_hook(f"before-parameter-build.{operation}", self.remember)
        clients.add_hook(f"before-call.{operation}", self)


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[tuple[Account, Path, list[Any]]]:
    """A fresh emulated account, with clients of its own: the hooks a test installs stay on
    its clients, so no other test may share them."""
    with fake_aws_env():
        own = Account(Clients(REGION, max_attempts=1))
    (tmp_path / "smprov.toml").write_text(CONFIG)
    with fresh_account(own) as baseline:
        yield own, tmp_path, baseline


def test_not_yet_visible_after_create_is_retried(fresh: tuple[Account, Path, list[Any]]) -> None:
    account, workdir, baseline = fresh
    subnet = CallFaults("InvalidVpcID.NotFound", "The vpc ID 'vpc-1' does not exist", times=3)
    subnet.install(account.clients, "ec2.CreateSubnet")
    route = CallFaults("InvalidNatGatewayID.NotFound", "The natGateway ID does not exist", 2)
    route.install(account.clients, "ec2.CreateRoute")
    role = CallFaults(ROLE_NOT_READY_CODE, ROLE_NOT_READY_MESSAGE + " (not yet)", times=2)
    role.install(account.clients, "ec2.CreateFlowLogs")

    _plan, report, final = run(account, workdir)
    assert report.ok, [(node, r.message) for node, r in report.failed]
    assert (subnet.failed, route.failed, role.failed) == (3, 2, 2)
    assert compare(stack_items(account.clients, baseline), final) == []


def test_not_yet_visible_gives_up_at_its_bound_and_says_so(
    fresh: tuple[Account, Path, list[Any]],
) -> None:
    account, workdir, baseline = fresh
    never = CallFaults(
        "InvalidVpcID.NotFound",
        "The vpc ID does not exist",
        match=lambda params: _key(params) == "subnet.database.us-east-1b",
    )
    never.install(account.clients, "ec2.CreateSubnet")
    _plan, report, state = run(account, workdir)

    failed = {node[0]: r for node, r in report.failed}
    assert len(failed) == 1
    (message,) = [r.message for r in failed.values()]
    assert "InvalidVpcID.NotFound" in message
    assert "after 2 s" in message  # the bound (FAST timing's consistency_timeout)
    assert never.failed > 1  # retried, not given up at the first answer
    assert compare(stack_items(account.clients, baseline), state, intents_ok=set(failed)) == []


def test_dependency_violation_on_delete_is_retried(fresh: tuple[Account, Path, list[Any]]) -> None:
    account, workdir, baseline = fresh
    run(account, workdir)
    busy = CallFaults("DependencyViolation", "The subnet has dependencies", times=3)
    busy.install(account.clients, "ec2.DeleteSubnet")
    _plan, report, final = run(
        account, workdir, operations.plan_down, delete_data=True, delete_logs=True
    )
    assert report.ok, [(node, r.message) for node, r in report.failed]
    assert busy.failed == 3
    assert final.resources == {}
    assert stack_items(account.clients, baseline) == []


def test_a_network_interface_smprov_did_not_create_is_named(
    fresh: tuple[Account, Path, list[Any]],
) -> None:
    account, workdir, _baseline = fresh
    _plan, _report, state = run(account, workdir)
    subnet_id = state.resources["subnet.private.us-east-1a"].id
    eni = account.clients("ec2").create_network_interface(
        SubnetId=subnet_id, Description="SageMaker training job algo-1"
    )["NetworkInterface"]["NetworkInterfaceId"]
    # AWS refuses to delete a subnet with an interface in it (moto does not check).
    busy = CallFaults("DependencyViolation", "The subnet has dependencies and cannot be deleted.")
    busy.match = lambda params: params.get("SubnetId") == subnet_id
    busy.install(account.clients, "ec2.DeleteSubnet")

    _plan, report, final = run(
        account, workdir, operations.plan_down, delete_data=True, delete_logs=True
    )
    failed = {node[0]: r for node, r in report.failed}
    assert list(failed) == ["subnet.private.us-east-1a"]
    error = failed["subnet.private.us-east-1a"].error
    assert isinstance(error, AwsError) and error.code == "DependencyViolation"
    assert eni in error.message and "SageMaker training job algo-1" in error.message
    assert error.hint is not None and "SageMaker" in error.hint
    assert busy.failed > 1  # retried within the bound first
    assert "subnet.private.us-east-1a" in final.resources  # still there, still recorded
    assert "vpc" in final.resources  # its VPC waits for it


def test_a_failure_mid_run_leaves_a_true_state_and_the_next_up_continues(
    fresh: tuple[Account, Path, list[Any]],
) -> None:
    account, workdir, baseline = fresh
    nat = CallFaults("NatGatewayLimitExceeded", "The maximum number of NAT gateways is reached.")
    nat.install(account.clients, "ec2.CreateNatGateway")
    _plan, report, state = run(account, workdir)
    failed = [node[0] for node, _r in report.failed]
    assert failed == ["nat_gateway.us-east-1a"]
    skipped = [node[0] for node, r in report.results.items() if r.status.value == "skipped"]
    assert "route.private.us-east-1a.nat" in skipped
    assert "nat_gateway.us-east-1a" not in state.resources
    assert compare(stack_items(account.clients, baseline), state, intents_ok=set(failed)) == []

    nat.match = lambda _params: False  # the quota was raised
    account.switch = KillSwitch()
    _plan, report, final = run(account, workdir)
    assert report.ok, [(node, r.message) for node, r in report.failed]
    assert "CreateNatGateway" in account.switch.answered
    assert "CreateVpc" not in account.switch.answered  # continued, not started over
    assert compare(stack_items(account.clients, baseline), final) == []
    assert plan_only(account, workdir).is_empty


# -- helpers ----------------------------------------------------------------------------------


THROTTLE_CODE = {
    "ec2": "RequestLimitExceeded",
    "s3": "SlowDown",
    "cloudwatch-logs": "ThrottlingException",
}


def _snake(operation: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in operation).lstrip("_")


def _key(params: dict[str, Any]) -> str | None:
    tags = [t for spec in params.get("TagSpecifications") or [] for t in spec["Tags"]]
    return next((t["Value"] for t in tags if t["Key"] == KEY_TAG), None)
