"""The crash matrix: kill smprov after every mutating call of a cold `up`; the next `up` converges.

How the kill is simulated, and why this way. A real SIGKILL has three effects: (1) the AWS call
that was answered has taken effect, (2) smprov records nothing more, (3) smprov sends nothing more.
The test models each one exactly, in-process:

1. an ``after-call`` hook raises :class:`Killed` once the N-th mutating call has been answered, so
   AWS (moto) has done the work and the kind never sees the answer;
2. the state backend refuses every write from that moment (a real kill cannot write either);
3. a ``before-call`` hook raises :class:`Killed` for any later call, from any worker thread.

``Killed`` is a ``BaseException``: the executor catches ``SmprovError`` and ``Exception`` (to record
a failure), not this, so it leaves ``apply`` like a dead process, recording nothing. The one thing
that does not happen under SIGKILL and does happen here is Python unwinding ``finally`` blocks:
the lock file's holder line is cleared (the kernel would release the ``flock`` itself and the next
run would take the lock over, which tests/test_cli.py covers). Killing a real child process
against moto's HTTP server models the same three effects; it costs a process start (~2 s) and
three times the per-call latency per case, so the matrix uses the in-process model and one test at
the end calibrates it against a real SIGKILL.

Each case is a fresh emulated account. The run is at parallelism 1 so that call N is the same
operation on every run (the test id names it); a few more cases kill a parallel run, where other
calls are in flight at the moment of the kill. State writes skip ``fsync``: it guards against a
power cut, not a killed process (the page cache survives), and costs ~5 ms per write. moto
answers as ``--local`` runs it (``provisioner.emulator_fidelity``, applied by the fixtures): e.g.
a DHCP options set or bucket is tagged atomically with its create, as on AWS, so a kill right
after either call leaves what AWS could leave.

Cost: ~2.5 s per case on an idle 2-core machine (four runs of the engine and three inventories in
a fresh account), so ~2.5 min for the ~55 cases serially, about half that with ``pytest -n 2``.
"""

from __future__ import annotations

import contextlib
import functools
import os
import tempfile
import threading
from collections import Counter
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from moto import mock_aws

from provisioner import operations
from provisioner.aws.clients import Clients, is_read_operation
from provisioner.aws.retry import FAST
from provisioner.engine.contract import KEY_TAG
from provisioner.engine.executor import ApplyReport
from provisioner.engine.planner import Plan
from provisioner.store.backend import StateBackend
from provisioner.store.document import StateDocument
from provisioner.store.local import LocalBackend

REGION = "us-east-1"
ENV = "dev"
CONFIG = f'environment = "{ENV}"\nregion = "{REGION}"\nparallelism = 1\n'
FAKE_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    # smprov uses no AMI; loading moto's catalogue costs ~0.3 s per fresh account.
    "MOTO_EC2_LOAD_DEFAULT_AMIS": "false",
}
UNSET_ENV = ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")


class Killed(BaseException):
    """The process died: nothing after this point is sent to AWS or written to the state."""


@dataclass
class KillSwitch:
    """Kills the run once ``after`` mutating calls have been answered (0: never), or right after
    the first mutating call for which ``when(operation, request context)`` is true."""

    after: int = 0
    when: Callable[[str, dict[str, Any]], bool] | None = None
    answered: list[str] = field(default_factory=list)
    killed: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def before_call(self, model: Any, **_kwargs: Any) -> None:
        if self.killed:
            raise Killed(f"no call after the kill ({model.name})")

    def after_call(self, model: Any, context: dict[str, Any], **_kwargs: Any) -> None:
        if is_read_operation(model.name):
            return
        with self._lock:
            if self.killed:  # answered after the kill: the dead process never reads it
                raise Killed(model.name)
            self.answered.append(model.name)
            chosen = self.when is not None and self.when(model.name, context)
            if chosen or len(self.answered) == self.after:
                self.killed = True
                raise Killed(f"killed after mutating call {len(self.answered)} ({model.name})")


class KilledBackend:
    """A state backend that writes nothing once the process is dead."""

    def __init__(self, inner: StateBackend, switch: KillSwitch) -> None:
        self._inner = inner
        self._switch = switch

    def write(self, doc: StateDocument) -> None:
        if self._switch.killed:
            raise Killed("no state write after the kill")
        self._inner.write(doc)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


@dataclass
class Account:
    """One set of clients reused across fresh moto accounts (building clients is the slow part)."""

    clients: Clients
    switch: KillSwitch = field(default_factory=KillSwitch)

    def __post_init__(self) -> None:
        self.clients.add_hook("before-call.*.*", lambda **kw: self.switch.before_call(**kw))
        self.clients.add_hook("after-call.*.*", lambda **kw: self.switch.after_call(**kw))


@contextlib.contextmanager
def fake_aws_env() -> Iterator[None]:
    """Fake credentials and no developer AWS configuration, for module-scoped fixtures."""
    with pytest.MonkeyPatch.context() as mp, tempfile.TemporaryDirectory() as tmp:
        empty = Path(tmp) / "empty"
        empty.write_text("")
        for name in UNSET_ENV:
            mp.delenv(name, raising=False)
        for name, value in FAKE_ENV.items():
            mp.setenv(name, value)
        mp.setenv("AWS_CONFIG_FILE", str(empty))
        mp.setenv("AWS_SHARED_CREDENTIALS_FILE", str(empty))
        yield


# -- running smprov ---------------------------------------------------------------------------


def run(
    account: Account,
    workdir: Path,
    planner: Callable[..., tuple[Plan, Any]] = operations.plan_up,
    **flags: Any,
) -> tuple[Plan, ApplyReport, StateDocument]:
    """One `up` (or `down` with ``planner=operations.plan_down``), as the CLI runs it."""
    stk = operations.open_stack(
        operations.Options(cwd=workdir, clients=account.clients, timing=FAST)
    )
    stk.backend = KilledBackend(stk.backend, account.switch)
    with operations.locked(stk, "up") as doc:
        plan, _ = planner(stk, doc)
        report, final = operations.execute(stk, plan, doc, **flags)
    return plan, report, final


def plan_only(account: Account, workdir: Path) -> Plan:
    stk = operations.open_stack(
        operations.Options(cwd=workdir, clients=account.clients, timing=FAST)
    )
    with operations.locked(stk, "plan") as doc:
        return operations.plan_up(stk, doc)[0]


# -- the inventory of an emulated account -----------------------------------------------------


@dataclass(frozen=True)
class Item:
    """One resource in the account; ``aliases`` are the ids a state record may use for it."""

    type: str
    aliases: frozenset[str]
    key: str | None = None
    #: Made by AWS with another resource (a VPC's main route table, default SG and NACL): it
    #: needs no record of its own, but may have one.
    implicit: bool = False

    @property
    def name(self) -> str:
        return f"{self.type} {min(self.aliases)}" + (f" ({self.key})" if self.key else "")


def _tags(raw: dict[str, Any], field_name: str = "Tags") -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in raw.get(field_name) or []}


def _ec2_items(ec2: Any) -> Iterator[Item]:
    def item(kind: str, rid: str, raw: dict[str, Any], *, implicit: bool = False) -> Item:
        return Item(kind, frozenset({rid}), _tags(raw).get(KEY_TAG), implicit)

    vpcs = ec2.describe_vpcs()["Vpcs"]
    for raw in vpcs:
        yield item("vpc", raw["VpcId"], raw)
    live_vpcs = {raw["VpcId"] for raw in vpcs}
    for raw in ec2.describe_subnets()["Subnets"]:
        yield item("subnet", raw["SubnetId"], raw)
    for raw in ec2.describe_dhcp_options()["DhcpOptions"]:
        yield item("dhcp_options", raw["DhcpOptionsId"], raw)
    for raw in ec2.describe_internet_gateways()["InternetGateways"]:
        yield item("internet_gateway", raw["InternetGatewayId"], raw)
    for raw in ec2.describe_addresses()["Addresses"]:
        yield item("eip", raw["AllocationId"], raw)
    for raw in ec2.describe_nat_gateways()["NatGateways"]:
        if raw.get("State") not in ("deleted", "failed"):
            yield item("nat_gateway", raw["NatGatewayId"], raw)
    for raw in ec2.describe_vpc_endpoints()["VpcEndpoints"]:
        if str(raw.get("State", "")).lower() not in ("deleted", "failed", "rejected"):
            yield item("vpc_endpoint", raw["VpcEndpointId"], raw)
    for raw in ec2.describe_flow_logs()["FlowLogs"]:
        yield item("flow_log", raw["FlowLogId"], raw)
    for raw in ec2.describe_security_groups()["SecurityGroups"]:
        yield item("security_group", raw["GroupId"], raw, implicit=raw["GroupName"] == "default")
    for raw in ec2.describe_network_acls()["NetworkAcls"]:
        # moto 5.2 keeps a deleted VPC's default network ACL; AWS deletes it with the VPC.
        if raw.get("VpcId") in live_vpcs:
            yield item(
                "network_acl", raw["NetworkAclId"], raw, implicit=raw.get("IsDefault", False)
            )
    for table in ec2.describe_route_tables()["RouteTables"]:
        main = any(a.get("Main") for a in table.get("Associations", []))
        yield item("route_table", table["RouteTableId"], table, implicit=main)
        for route in table.get("Routes", []):
            dest = route.get("DestinationCidrBlock")
            if dest and route.get("Origin") == "CreateRoute":
                rid = f"{table['RouteTableId']}_{dest}"
                yield Item("route", frozenset({rid}))
        for assoc in table.get("Associations", []):
            if assoc.get("SubnetId"):
                yield Item("route_table_association", frozenset({assoc["RouteTableAssociationId"]}))


def _global_items(clients: Clients) -> Iterator[Item]:
    """Name-keyed resources: a fresh account has none, so every one found is the stack's."""
    iam = clients("iam")
    for role in iam.list_roles()["Roles"]:
        tags = _tags(iam.get_role(RoleName=role["RoleName"])["Role"])
        yield Item("iam_role", frozenset({role["RoleName"], role["Arn"]}), tags.get(KEY_TAG))
    for policy in iam.list_policies(Scope="Local")["Policies"]:
        yield Item("iam_policy", frozenset({policy["PolicyName"], policy["Arn"]}))
    for profile in iam.list_instance_profiles()["InstanceProfiles"]:
        yield Item("instance_profile", frozenset({profile["InstanceProfileName"], profile["Arn"]}))
    s3 = clients("s3")
    for bucket in s3.list_buckets().get("Buckets", []):
        name = bucket["Name"]
        yield Item("bucket", frozenset({name, f"arn:aws:s3:::{name}"}))
        for obj in s3.list_objects_v2(Bucket=name).get("Contents", []):
            key = obj["Key"]
            yield Item("object", frozenset({key, f"{name}/{key}", f"s3://{name}/{key}"}))
    logs = clients("logs")
    for group in logs.describe_log_groups().get("logGroups", []):
        arn = group.get("arn", "").removesuffix(":*")
        yield Item("log_group", frozenset({group["logGroupName"], arn} - {""}))
    rds = clients("rds")
    for group in rds.describe_db_subnet_groups().get("DBSubnetGroups", []):
        names = {group["DBSubnetGroupName"], group.get("DBSubnetGroupArn", "")} - {""}
        yield Item("db_subnet_group", frozenset(names))


def inventory(clients: Clients) -> list[Item]:
    """Everything in the emulated account, read with plain boto3 (not with smprov's kinds)."""
    return [*_ec2_items(clients("ec2")), *_global_items(clients)]


def stack_items(clients: Clients, baseline: list[Item]) -> list[Item]:
    """What the account holds beyond a fresh account's defaults (``baseline``)."""
    before = {alias for item in baseline for alias in item.aliases}
    return [i for i in inventory(clients) if not (i.aliases & before)]


def compare(
    items: list[Item], doc: StateDocument, *, intents_ok: Collection[str] = ()
) -> list[str]:
    """Problems between an account's stack resources and the state: duplicates (two resources
    with one ``smprov:key``), orphans (a resource no record names), records of nothing, and
    intents left over (except for ``intents_ok``: creates that failed, kept for the retry)."""
    problems: list[str] = []
    keyed = Counter((i.type, i.key) for i in items if i.key)
    problems += [f"duplicate: {n} {t}s tagged {k}" for (t, k), n in sorted(keyed.items()) if n > 1]
    ids = {rec.id for rec in doc.resources.values()}
    problems += [f"orphan: {i.name}" for i in items if not i.implicit and not i.aliases & ids]
    aliases = {alias for i in items for alias in i.aliases}
    problems += [
        f"recorded but not in the account: {key} = {rec.id} (if this is a new kind of "
        "resource, teach inventory() to list it)"
        for key, rec in sorted(doc.resources.items())
        if rec.id not in aliases
    ]
    left = sorted(set(doc.intents) - set(intents_ok))
    if left:
        problems.append(f"intents left in the state: {left}")
    return problems


# -- the matrix -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def account() -> Iterator[Account]:
    with fake_aws_env():
        yield Account(Clients(REGION, max_attempts=1))


@contextlib.contextmanager
def fresh_account(account: Account) -> Iterator[list[Item]]:
    """A new, empty emulated account; yields its default resources (the baseline)."""
    account.switch = KillSwitch()
    with mock_aws():
        yield inventory(account.clients)


def count_cold_up(account: Account, config: str = CONFIG) -> list[str]:
    """The mutating calls of a clean cold `up` of the whole stack, in the order answered."""
    with tempfile.TemporaryDirectory() as tmp, fresh_account(account):
        workdir = Path(tmp)
        (workdir / "smprov.toml").write_text(config)
        _plan, report, _final = run(account, workdir)
        assert report.ok, [(node, r.message) for node, r in report.failed]
        return list(account.switch.answered)


@functools.cache
def cold_up_calls() -> tuple[str, ...]:
    """Counted once per session, at collection: every N of the matrix is its own test."""
    with fake_aws_env():
        return tuple(count_cold_up(Account(Clients(REGION, max_attempts=1))))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "crash_point" in metafunc.fixturenames:
        calls = cold_up_calls()
        metafunc.parametrize(
            "crash_point",
            range(1, len(calls) + 1),
            ids=[f"{n:02d}-{op}" for n, op in enumerate(calls, start=1)],
        )


@pytest.fixture(autouse=True)
def no_fsync(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "fsync", lambda _fd: None)


def test_cold_up_is_counted_the_same_way_every_run(account: Account) -> None:
    """The matrix's premise: the calls counted at collection are those of every cold `up`, in
    the same order at parallelism 1, and the same calls (in some order) in a parallel run."""
    calls = cold_up_calls()
    assert len(calls) >= 20
    assert tuple(count_cold_up(account)) == calls
    parallel = count_cold_up(account, CONFIG.replace("parallelism = 1", "parallelism = 10"))
    assert Counter(parallel) == Counter(calls)


def test_kill_after_call_then_up_converges(
    account: Account, tmp_path: Path, crash_point: int
) -> None:
    (tmp_path / "smprov.toml").write_text(CONFIG)
    with fresh_account(account) as baseline:
        account.switch = KillSwitch(after=crash_point)
        with pytest.raises(Killed):
            run(account, tmp_path)
        assert len(account.switch.answered) == crash_point
        converge_and_destroy(account, tmp_path, baseline)


@pytest.mark.parametrize("fraction", [0.2, 0.5, 0.8])
def test_kill_during_a_parallel_run_converges(
    account: Account, tmp_path: Path, fraction: float
) -> None:
    """At parallelism 10 other calls are in flight when the process dies: AWS may complete
    them, smprov hears of none of them."""
    total = len(cold_up_calls())
    (tmp_path / "smprov.toml").write_text(CONFIG.replace("parallelism = 1", "parallelism = 10"))
    with fresh_account(account) as baseline:
        account.switch = KillSwitch(after=max(1, round(total * fraction)))
        with pytest.raises(Killed):
            run(account, tmp_path)
        converge_and_destroy(account, tmp_path, baseline)


def converge_and_destroy(account: Account, workdir: Path, baseline: list[Item]) -> None:
    """A clean `up` makes exactly the stack, then `down` leaves nothing (the matrix's checks)."""
    account.switch = KillSwitch()
    _plan, report, final = run(account, workdir)
    assert report.ok, [(node, r.message) for node, r in report.failed]
    assert compare(stack_items(account.clients, baseline), final) == []
    account.switch = KillSwitch()
    assert plan_only(account, workdir).is_empty
    assert account.switch.answered == []

    # `down` keeps the bucket and the flow-log group unless told: tell it, to leave nothing.
    _plan, report, final = run(
        account, workdir, operations.plan_down, delete_data=True, delete_logs=True
    )
    assert report.ok, [(node, r.message) for node, r in report.failed]
    assert final.resources == {}
    assert [i.name for i in stack_items(account.clients, baseline)] == []


# -- calibration: a real SIGKILL ----------------------------------------------------------------

KILLER = """
import os, signal, sys
from provisioner import cli, operations
from provisioner.aws.clients import is_read_operation

after = int(sys.argv[1])
answered = []
real = operations._make_clients


def make(options, config):
    clients = real(options, config)

    def count(model, **_kwargs):
        if not is_read_operation(model.name):
            answered.append(model.name)
            if len(answered) == after:
                os.kill(os.getpid(), signal.SIGKILL)

    clients.add_hook("after-call.*.*", count)
    return clients


operations._make_clients = make
cli.app(["up", "--yes"])
"""


def test_a_real_sigkill_converges_like_the_model(aws_env: None, tmp_path: Path) -> None:
    """The model above, checked once against the real thing: an `smprov up` process (parallel,
    parallelism 10) is SIGKILLed by the kernel right after a mutating call half-way through, with
    the emulator in this process over HTTP; a new `smprov up` then converges exactly."""
    import subprocess
    import sys

    from tests.test_cli_server import CountingServer, smprov

    server = CountingServer()
    server.start()
    try:
        endpoint = server.url()
        clients = Clients(REGION, endpoint_url=endpoint, max_attempts=1)
        baseline = inventory(clients)
        half = len(cold_up_calls()) // 2
        env = {**os.environ, "AWS_ENDPOINT_URL": endpoint}
        killed = subprocess.run(
            [sys.executable, "-c", KILLER, str(half)],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert killed.returncode == -9, killed.stderr
        assert len(server.mutating) >= half
        crashed = StateDocument.from_json((tmp_path / "state" / f"{ENV}.json").read_text(), "s")
        assert crashed.resources  # it recorded what it had done up to the kill

        resumed = smprov(tmp_path, endpoint, "up", "--yes")
        assert resumed.returncode == 0, resumed.stderr
        final = StateDocument.from_json((tmp_path / "state" / f"{ENV}.json").read_text(), "s")
        assert compare(stack_items(clients, baseline), final) == []

        down = smprov(tmp_path, endpoint, "down", "--yes", "--delete-data", "--delete-logs")
        assert down.returncode == 0, down.stderr
        assert [i.name for i in stack_items(clients, baseline)] == []
    finally:
        server.stop()


# -- name-keyed creates: the intent's name is the resource's identity --------------------------

#: Creates of resources AWS keys by name (no ClientToken, and no tag filter on their reads).
NAME_KEYED_CREATES = ("CreateBucket", "CreateRole", "CreateLogGroup", "CreateDBSubnetGroup")


def strip_tags(clients: Clients, kind: str, name: str) -> None:
    """Leave the resource a killed create made without tags: what an emulator that drops
    create-time tags leaves, or a create AWS applied before tagging."""
    if kind == "bucket":
        clients("s3").delete_bucket_tagging(Bucket=name)
    elif kind == "iam_role":
        iam = clients("iam")
        tags = iam.list_role_tags(RoleName=name)["Tags"]
        iam.untag_role(RoleName=name, TagKeys=[t["Key"] for t in tags])
    elif kind == "log_group":
        logs = clients("logs")
        arn = f"arn:aws:logs:{REGION}:123456789012:log-group:{name}"
        tags = logs.list_tags_for_resource(resourceArn=arn).get("tags", {})
        logs.untag_resource(resourceArn=arn, tagKeys=list(tags))
    elif kind == "db_subnet_group":
        rds = clients("rds")
        arn = f"arn:aws:rds:{REGION}:123456789012:subgrp:{name}"
        tags = rds.list_tags_for_resource(ResourceName=arn)["TagList"]
        rds.remove_tags_from_resource(ResourceName=arn, TagKeys=[t["Key"] for t in tags])
    else:
        raise AssertionError(f"not a name-keyed kind: {kind}")


def name_keyed_points() -> list[int]:
    return [n for n, op in enumerate(cold_up_calls(), start=1) if op in NAME_KEYED_CREATES]


def kill_leaving_an_untagged_resource(account: Account, workdir: Path, crash_point: int) -> str:
    """Kill right after a name-keyed create and strip the new resource's tags; returns its
    key. The state holds the create's intent, with the name it asked for."""
    account.switch = KillSwitch(after=crash_point)
    with pytest.raises(Killed):
        run(account, workdir)
    return untag_the_killed_create(account, workdir)


def untag_the_killed_create(account: Account, workdir: Path) -> str:
    """Strip the tags of what the killed name-keyed create made; returns its key."""
    doc = LocalBackend(workdir / "state" / f"{ENV}.json").read()
    assert doc is not None
    named = {key: intent for key, intent in doc.intents.items() if intent.name}
    assert len(named) == 1, doc.intents  # the create just killed
    [(key, intent)] = named.items()
    account.switch = KillSwitch()  # the test's own calls, not the dead run's
    strip_tags(account.clients, intent.kind, intent.name or "")
    return key


NAME_KEYED = pytest.mark.parametrize(
    "name_point",
    name_keyed_points(),
    ids=lambda n: f"{n:02d}-{cold_up_calls()[n - 1]}",
)


@NAME_KEYED
def test_an_untagged_name_keyed_resource_of_an_intent_is_adopted(
    account: Account, tmp_path: Path, name_point: int
) -> None:
    """A bucket (role, log group, DB subnet group) the killed create made carries no tags: the
    name the state's intent recorded, owned by this account, makes it ours. The next `up`
    adopts and tags it; nothing is made twice, nothing leaks."""
    (tmp_path / "smprov.toml").write_text(CONFIG)
    with fresh_account(account) as baseline:
        kill_leaving_an_untagged_resource(account, tmp_path, name_point)
        converge_and_destroy(account, tmp_path, baseline)


@NAME_KEYED
def test_down_removes_an_untagged_name_keyed_resource_known_only_by_its_intent(
    account: Account, tmp_path: Path, name_point: int
) -> None:
    (tmp_path / "smprov.toml").write_text(CONFIG)
    with fresh_account(account) as baseline:
        kill_leaving_an_untagged_resource(account, tmp_path, name_point)
        account.switch = KillSwitch()
        _plan, report, final = run(
            account, tmp_path, operations.plan_down, delete_data=True, delete_logs=True
        )
        assert report.ok, [(node, r.message) for node, r in report.failed]
        assert final.resources == {} and final.intents == {}
        assert [i.name for i in stack_items(account.clients, baseline)] == []
