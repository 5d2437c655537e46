"""Lost responses: AWS applied the request, the answer never arrived, botocore sent it again.

On AWS a request can take effect and its response still be lost: a 5xx or a reset connection
after the side effect. botocore's standard retry mode then repeats it. For a create without a
ClientToken the repeat makes a second VPC, internet gateway, Elastic IP or DHCP options set (AWS
enforces no uniqueness), or fails with the conflict the first attempt caused
(``InvalidSubnet.Conflict``, ``InvalidGroup.Duplicate``, ``EntityAlreadyExists``,
``DBSubnetGroupAlreadyExists``, ``Resource.AlreadyAssociated``...). smprov must still converge on
the FIRST run, with exactly one of each resource, and ``down`` must leave nothing.

How the fault is made, in-process: a ``before-send`` hook (one per HTTP attempt, after botocore
signed it) lets moto execute the request, then answers 500 or raises a connection error, so
botocore retries exactly as it would against AWS. The same hook plays AWS's part where moto does
not: a ClientToken already answered gets the first answer again (moto ignores tokens), and
create-time tags are applied (moto drops them for DHCP options and buckets). Throttling and a 5xx
that did nothing are refused before moto sees the request (``MotoGate``). The gate is
process-wide, so these runs are at parallelism 1; botocore's backoff is zero (the test is about
what is retried, not for how long).
"""

from __future__ import annotations

import random
import threading
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ConnectionClosedError

from provisioner import operations
from provisioner.aws.clients import Clients, is_read_operation
from tests.test_call_budget import DOWN_MUTATING
from tests.test_crash_matrix import (
    CONFIG,
    REGION,
    Account,
    cold_up_calls,
    compare,
    fake_aws_env,
    fresh_account,
    plan_only,
    run,
    stack_items,
)
from tests.test_faults import MotoGate, aws_error

#: What a send's fate may be.
THROTTLE, FAILED, LOST_500, LOST_RESET = "throttle", "5xx", "lost-500", "lost-reset"
THROTTLE_CODE = {"ec2": "RequestLimitExceeded", "s3": "SlowDown", "logs": "ThrottlingException"}


class _Raw:
    """A response body botocore can read more than once (a replayed answer)."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_kwargs: Any) -> Iterator[bytes]:
        yield self._body


@dataclass
class Weather:
    """AWS's failure modes over moto, decided for every HTTP attempt by ``fate``."""

    gate: MotoGate
    fate: Callable[[str, str, bool], str | None]
    #: ClientToken -> moto's first answer (AWS returns it again for the same token).
    tokens: dict[str, tuple[int, dict[str, str], bytes]] = field(default_factory=dict)
    #: (operation, fate) of every attempt that was not simply answered.
    happened: list[tuple[str, str]] = field(default_factory=list)
    _local: threading.local = field(default_factory=threading.local)

    def install(self, clients: Clients) -> None:
        clients.add_hook("before-call.*.*", self._new_call)
        clients.add_hook("before-send.*.*", self._send)

    def _new_call(self, **_kwargs: Any) -> None:
        self._local.first = True

    def _send(self, event_name: str, request: Any, **_kwargs: Any) -> AWSResponse | None:
        from moto.core.models import botocore_stubber

        _before, service, operation = event_name.split(".")
        first, self._local.first = getattr(self._local, "first", False), False
        token = _client_token(request)
        if token and token in self.tokens:
            return self.gate.refuse(_response(request, *self.tokens[token]))
        fate = self.fate(operation, service, first)
        if fate in (THROTTLE, FAILED):
            self.happened.append((operation, fate))
            code = THROTTLE_CODE.get(service, "Throttling") if fate == THROTTLE else "InternalError"
            return self.gate.refuse(aws_error(service, code, 400 if fate == THROTTLE else 500))
        if fate is None and not token:
            return None  # moto answers it
        answer = botocore_stubber.process_request(request)  # moto executes it
        if answer is None:
            return None
        status, headers, body = answer
        data = body if isinstance(body, bytes) else str(body).encode()
        if token and status < 300:
            self.tokens[token] = (status, dict(headers), data)
        if fate == LOST_500:
            self.happened.append((operation, fate))
            return self.gate.refuse(aws_error(service, "InternalError", 500))
        if fate == LOST_RESET:
            self.happened.append((operation, fate))
            raise ConnectionClosedError(endpoint_url=request.url)
        return self.gate.refuse(_response(request, status, dict(headers), data))


def _client_token(request: Any) -> str | None:
    body = request.body
    if not body:
        return None
    text = body.decode() if isinstance(body, bytes) else str(body)
    if "ClientToken=" not in text:
        return None
    return urllib.parse.parse_qs(text).get("ClientToken", [None])[0]


def _response(request: Any, status: int, headers: dict[str, str], body: bytes) -> AWSResponse:
    return AWSResponse(request.url, status, headers, _Raw(body))


def every_third_mutating_call(operation: str, _service: str, first: bool) -> str | None:
    """The first attempt of every 3rd mutating call is applied and its answer lost, by a 500
    and a reset connection in turn; the retries go through."""
    if not first or is_read_operation(operation):
        return None
    _COUNT[0] += 1
    if _COUNT[0] % 3:
        return None
    return LOST_500 if _COUNT[0] % 2 else LOST_RESET


_COUNT = [0]


def first_answer_of_each_operation_lost() -> Callable[[str, str, bool], str | None]:
    """The first attempt of each mutating operation is applied and its answer lost, by a 500
    and a reset connection in turn."""
    seen: set[str] = set()

    def fate(operation: str, _service: str, first: bool) -> str | None:
        if not first or is_read_operation(operation) or operation in seen:
            return None
        seen.add(operation)
        return LOST_500 if len(seen) % 2 else LOST_RESET

    return fate


def stormy(seed: int) -> Callable[[str, str, bool], str | None]:
    """Every attempt: 20 % throttled, 1 % a 5xx that did nothing, 2 % applied and lost."""
    rng = random.Random(seed)

    def fate(operation: str, _service: str, _first: bool) -> str | None:
        roll = rng.random()
        if roll < 0.20:
            return THROTTLE
        if roll < 0.21:
            return FAILED
        if roll < 0.23 and not is_read_operation(operation):
            return rng.choice((LOST_500, LOST_RESET))
        return None

    return fate


@pytest.fixture
def tags_at_create(monkeypatch: pytest.MonkeyPatch) -> None:
    apply_tags_at_create(monkeypatch)


def apply_tags_at_create(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto applies create-time tags as AWS does, also to a request whose answer is lost:
    CreateDhcpOptions' TagSpecifications and CreateBucket's CreateBucketConfiguration.Tags."""
    from moto.ec2.responses.dhcp_options import DHCPOptions
    from moto.s3.responses import S3Response

    create_options = DHCPOptions.create_dhcp_options

    def dhcp_options(self: Any) -> Any:
        result = create_options(self)
        tags = self._parse_tag_specification().get("dhcp-options", {})
        options = result.result["DhcpOptions"]
        if tags:
            self.ec2_backend.create_tags([options.id], tags)
        return result

    bucket_put = S3Response._bucket_response_put

    def bucket(self: Any, request: Any, bucket_name: str, querystring: dict[str, Any]) -> Any:
        answer = bucket_put(self, request, bucket_name, querystring)
        if not querystring and self.body and b"<Tags>" in self.body:
            import xmltodict

            config = xmltodict.parse(self.body)["CreateBucketConfiguration"]
            tags = config["Tags"]["Tag"]
            tags = tags if isinstance(tags, list) else [tags]
            self.backend.put_bucket_tagging(bucket_name, {t["Key"]: t["Value"] for t in tags})
        return answer

    monkeypatch.setattr(DHCPOptions, "create_dhcp_options", dhcp_options)
    monkeypatch.setattr(S3Response, "_bucket_response_put", bucket)


@pytest.fixture
def weather_account(
    tags_at_create: None, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Account, MotoGate]]:
    from botocore.retries.standard import ExponentialBackoff

    monkeypatch.setattr(ExponentialBackoff, "delay_amount", lambda _self, _context: 0.0)
    with fake_aws_env():
        clients = Clients(REGION)  # as smprov builds them: standard mode, 10 attempts
        yield Account(clients), MotoGate(clients)


def first_up_then_down(account: Account, workdir: Path, weather: Weather) -> None:
    """The first `up` succeeds with exactly the stack; `down` then leaves nothing."""
    (workdir / "smprov.toml").write_text(CONFIG)
    with fresh_account(account) as baseline:
        weather.install(account.clients)
        _plan, report, state = run(account, workdir)
        assert report.ok, ([(n, r.message) for n, r in report.failed], weather.happened)
        assert compare(stack_items(account.clients, baseline), state) == [], weather.happened
        assert plan_only(account, workdir).is_empty

        _plan, report, final = run(
            account, workdir, operations.plan_down, delete_data=True, delete_logs=True
        )
        assert report.ok, ([(n, r.message) for n, r in report.failed], weather.happened)
        assert final.resources == {}
        assert [i.name for i in stack_items(account.clients, baseline)] == [], weather.happened


def test_every_third_mutating_call_loses_its_answer(
    weather_account: tuple[Account, MotoGate], tmp_path: Path
) -> None:
    account, gate = weather_account
    _COUNT[0] = 0
    weather = Weather(gate, every_third_mutating_call)
    first_up_then_down(account, tmp_path, weather)
    lost = [op for op, fate in weather.happened if fate.startswith("lost")]
    assert {"CreateVpc", "CreateSubnet"} & set(lost)
    assert len(lost) >= 20


def test_the_first_call_of_every_operation_loses_its_answer(
    weather_account: tuple[Account, MotoGate], tmp_path: Path
) -> None:
    """Every kind of mutating call, once: each create, attach, association, rule, upload and
    setting of the cold `up`, and each delete of the `down` (a lost delete is a success once
    the resource is gone)."""
    account, gate = weather_account
    weather = Weather(gate, first_answer_of_each_operation_lost())
    first_up_then_down(account, tmp_path, weather)
    lost = {op for op, fate in weather.happened if fate.startswith("lost")}
    assert set(cold_up_calls()) <= lost
    assert set(DOWN_MUTATING) <= lost


@pytest.mark.parametrize("seed", range(10))
def test_throttling_5xx_and_lost_answers_converge_on_the_first_run(
    weather_account: tuple[Account, MotoGate], tmp_path: Path, seed: int
) -> None:
    account, gate = weather_account
    weather = Weather(gate, stormy(seed))
    first_up_then_down(account, tmp_path, weather)
    assert any(fate == THROTTLE for _op, fate in weather.happened)


def test_the_weather_is_real(weather_account: tuple[Account, MotoGate], tmp_path: Path) -> None:
    """The harness itself: a lost CreateVpc answer really makes two VPCs in moto, which is
    what smprov has to clean up (if this fails, the tests above prove nothing)."""
    account, gate = weather_account
    lost_once = [True]

    def fate(operation: str, _service: str, first: bool) -> str | None:
        if operation == "CreateVpc" and first and lost_once:
            lost_once.clear()
            return LOST_RESET
        return None

    with fresh_account(account):
        Weather(gate, fate).install(account.clients)
        ec2 = account.clients("ec2")
        answer = ec2.create_vpc(CidrBlock="10.9.0.0/16")
        assert answer["ResponseMetadata"]["RetryAttempts"] == 1
        vpcs = ec2.describe_vpcs(Filters=[{"Name": "cidr", "Values": ["10.9.0.0/16"]}])["Vpcs"]
        assert len(vpcs) == 2
