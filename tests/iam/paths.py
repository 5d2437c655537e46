"""The paths that prove `smprov permissions`, each run against the emulator with every AWS call
smprov sends recorded, and each with the policy smprov prints for its stack.

- the lifecycle (tests/acceptance/lifecycle.py, on moto's server): cold up, no-change up, drift
  repair, the redundancy switch, down --delete-data --delete-logs, state in S3;
- the takeover: `up`, the state lost, `import` (re-stamps the lineage), `plan`, `status`,
  `output`, the state commands (`state pull`, `state push`, `unlock`) on the S3 backend;
- the Terraform import: `permissions --from-terraform`, then `import --from-terraform` of the seed
  stack from an S3 backend encrypted with a KMS key, then (with the plain `permissions`) `plan`,
  `up` and `down --delete-data --delete-logs` of the adopted stack;
- lost answers: a cold `up` and a `down` where the first answer of each mutating operation is
  lost (tests/test_lost_responses.py), so every conflict and twin lookup runs;
- name-keyed adoption: each create AWS keys by name killed after it made its resource, left
  untagged, adopted by the next `up` (tests/test_crash_matrix.py);
- the edges: rule descriptions edited and the CSV overwritten out of band, the role in someone's
  instance profile, and a subnet AWS keeps refusing to delete (DependencyViolation, answered by a
  botocore hook: smprov then names the network interfaces in the way).

The in-process paths run smprov's CLI (or its operations, where a test timing is needed) against
in-process moto; the out-of-band changes go through clients that are not recorded.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.iam.recording import Call, Recording

ACCOUNT = "123456789012"
REGION = "us-east-1"


@dataclass
class Proof:
    """One path: the calls smprov sent, and the policy it printed for them."""

    name: str
    policy: dict[str, Any]
    calls: list[Call]
    #: What the path's own assertions need (outputs, counts).
    notes: dict[str, Any] = field(default_factory=dict)


@dataclass
class Cli:
    """smprov's CLI in-process, in one working directory."""

    recording: Recording
    #: Clients for out-of-band changes (not recorded).
    own: Any
    log: list[str] = field(default_factory=list)

    def __call__(self, *args: str, expect: int = 0) -> Any:
        from typer.testing import CliRunner

        from provisioner.cli import app

        result = CliRunner().invoke(app, list(args), input="")
        self.log.append(f"smprov {' '.join(args)} -> {result.exit_code}")
        assert result.exit_code == expect, f"{self.log[-1]}\n{result.output}"
        return result

    def policy(self, *args: str) -> dict[str, Any]:
        return json.loads(self("permissions", "--json", *args).stdout)


@contextmanager
def emulated_account() -> Iterator[pytest.MonkeyPatch]:
    """A fresh in-process emulated account with fake credentials."""
    from moto import mock_aws

    from tests.test_crash_matrix import fake_aws_env

    with fake_aws_env(), mock_aws(), pytest.MonkeyPatch.context() as patch:
        yield patch


@contextmanager
def in_process_cli(workdir: Path) -> Iterator[Cli]:
    from provisioner.aws.clients import Clients

    with emulated_account() as patch:
        own = Clients(REGION, max_attempts=1)
        recording = Recording()
        recording.attach_to_new_clients(patch)
        patch.chdir(workdir)
        yield Cli(recording, own)


def _write(workdir: Path, lines: Sequence[str]) -> None:
    (workdir / "smprov.toml").write_text("\n".join(lines) + "\n")


def lifecycle(workdir: Path) -> list[Proof]:
    from tests.acceptance.emulator import emulated_lifecycle
    from tests.acceptance.lifecycle import unique_environment

    with emulated_lifecycle(workdir, unique_environment()) as (run, recording):
        run.run()
        calls = list(recording.calls)
        policy = run.permissions()
    return [Proof("lifecycle", policy, calls, {"log": run.log, "lifecycle": run})]


def takeover(workdir: Path) -> list[Proof]:
    """`smprov import` after the state is lost: every resource found again and re-stamped with
    the new state's lineage; then the commands that only read or move the state."""
    from tests.acceptance.lifecycle import make_state_bucket

    bucket = "smprov-takeover-state"
    with in_process_cli(workdir) as smprov:
        make_state_bucket(smprov.own("s3"), bucket, REGION)
        _write(workdir, [f'region = "{REGION}"', f'state_backend = "s3://{bucket}/dev.json"'])
        smprov("up", "--yes")
        smprov.own("s3").delete_object(Bucket=bucket, Key="dev.json")  # the state is lost
        before = len(smprov.recording.calls)
        took = smprov("import").stderr
        import_calls = smprov.recording.calls[before:]
        smprov("plan", "--detailed-exitcode")
        smprov("status")
        smprov("output", "--json")
        smprov("state", "pull", "--out", "pulled.json")
        smprov("state", "push", "pulled.json")
        smprov("unlock")
        policy = smprov.policy()
        calls = list(smprov.recording.calls)
    return [Proof("takeover", policy, calls, {"import": took, "import_calls": import_calls})]


def terraform_import(workdir: Path) -> list[Proof]:
    """The README's migration, from an S3 backend whose state object is SSE-KMS encrypted:
    the policy printed with --from-terraform before the import covers the import; the one
    printed after it (smprov.toml now written) covers managing the adopted stack."""
    from tests.migrate.build import CSV, build, substituted
    from tests.migrate.seed import load_state

    source = "s3://tf-backend-sagemaker/env/terraform.tfstate"
    with in_process_cli(workdir) as smprov:
        own = smprov.own
        doc = substituted(load_state(), build(own, load_state(), CSV))
        key = own("kms").create_key()["KeyMetadata"]["Arn"]
        own("s3").create_bucket(Bucket="tf-backend-sagemaker")
        own("s3").put_object(
            Bucket="tf-backend-sagemaker",
            Key="env/terraform.tfstate",
            Body=json.dumps(doc).encode(),
            ServerSideEncryption="aws:kms",
            SSEKMSKeyId=key,
        )
        policy = smprov.policy("--from-terraform", source)
        smprov("import", "--from-terraform", source)
        importing = list(smprov.recording.calls)
        after = smprov.policy()
        smprov("plan", "--detailed-exitcode", expect=3)
        smprov("up", "--yes")
        smprov("plan", "--detailed-exitcode")
        smprov("down", "--yes", "--delete-data", "--delete-logs")
        calls = list(smprov.recording.calls)
    notes = {"kms_key": key, "source": source}
    return [
        Proof("terraform import", policy, importing, notes),
        Proof("after a terraform import", after, calls[len(importing) :], notes),
    ]


def lost_answers(workdir: Path) -> list[Proof]:
    """A cold `up` and `down` where each mutating operation's first answer is lost: every
    lookup a conflict, a duplicate or a retried create's twin sets off runs once."""
    from botocore.retries.standard import ExponentialBackoff

    from provisioner import operations
    from provisioner.aws.clients import Clients
    from tests.test_crash_matrix import CONFIG, Account, fake_aws_env, fresh_account, run
    from tests.test_faults import MotoGate
    from tests.test_lost_responses import (
        Weather,
        apply_tags_at_create,
        first_answer_of_each_operation_lost,
    )

    (workdir / "smprov.toml").write_text(CONFIG)
    with fake_aws_env(), pytest.MonkeyPatch.context() as patch:
        patch.setattr(ExponentialBackoff, "delay_amount", lambda _self, _context: 0.0)
        apply_tags_at_create(patch)
        clients = Clients(REGION)  # as smprov builds them: standard mode, 10 attempts
        account = Account(clients)
        weather = Weather(MotoGate(clients), first_answer_of_each_operation_lost())
        recording = Recording(active=False)  # the account's inventory is the test's
        recording.attach(clients)
        with fresh_account(account):
            weather.install(clients)
            recording.active = True
            for planner, flags in ((operations.plan_up, {}), (operations.plan_down, ALL_DATA)):
                _plan, report, final = run(account, workdir, planner, **flags)
                assert report.ok, [(n, r.message) for n, r in report.failed]
            assert final.resources == {}
        calls = list(recording.calls)
    # With the account given, no AWS call.
    policy = operations.deployer_permissions(operations.Options(cwd=workdir), ACCOUNT)
    return [Proof("lost answers", policy, calls, {"happened": weather.happened})]


ALL_DATA = {"delete_data": True, "delete_logs": True}


def name_keyed(workdir: Path) -> list[Proof]:
    """Each name-keyed create (bucket, role, log group, DB subnet group) killed right after AWS
    made its resource, left untagged (tests/test_crash_matrix.py); the next `up` adopts it by
    the name its intent recorded and tags it, `down` then deletes the stack."""
    from provisioner import operations
    from provisioner.aws.clients import Clients
    from tests.test_crash_matrix import (
        CONFIG,
        Account,
        Killed,
        KillSwitch,
        fake_aws_env,
        fresh_account,
        name_keyed_points,
        run,
        untag_the_killed_create,
    )

    adopted: list[str] = []
    with fake_aws_env():
        clients = Clients(REGION, max_attempts=1)
        account = Account(clients)
        recording = Recording(active=False)  # not the inventory, nor the untagging
        recording.attach(clients)
        for point in name_keyed_points():
            here = workdir / str(point)
            here.mkdir()
            (here / "smprov.toml").write_text(CONFIG)
            with fresh_account(account):
                account.switch = KillSwitch(after=point)
                recording.active = True
                with pytest.raises(Killed):
                    run(account, here)
                recording.active = False
                adopted.append(untag_the_killed_create(account, here))
                account.switch = KillSwitch()
                recording.active = True
                for planner, flags in ((operations.plan_up, {}), (operations.plan_down, ALL_DATA)):
                    _plan, report, _final = run(account, here, planner, **flags)
                    assert report.ok, [(n, r.message) for n, r in report.failed]
                recording.active = False
        calls = list(recording.calls)
    policy = operations.deployer_permissions(operations.Options(cwd=here), ACCOUNT)
    return [Proof("name-keyed adoption", policy, calls, {"adopted": adopted})]


def edges(workdir: Path) -> list[Proof]:
    """What only a colleague's change or AWS's refusal sets off."""
    from provisioner import keys, operations
    from provisioner.aws.clients import Clients
    from provisioner.aws.retry import FAST
    from tests.harness import Harness

    refusing = {"DeleteSubnet": True}
    with emulated_account():
        own = Clients(REGION, max_attempts=1)
        harness = Harness(workdir, timing=dataclasses.replace(FAST, dependency_timeout=0.05))
        recording = Recording()
        recording.attach(harness.clients)
        harness.clients.add_hook("before-call.ec2.DeleteSubnet", _refuse(refusing))
        harness.write_config("availability_zones = 1\n")
        _plan, _report, state = harness.up()
        role = state.resources["iam_role.sagemaker_execution"].attrs["name"]
        _edit_rule_descriptions(
            own("ec2"),
            state.resources["security_group.vpc_endpoints"].id,
            state.resources["security_group.training"].id,
        )
        csv = state.resources[keys.CSV_OBJECT].attrs
        own("s3").put_object(Bucket=csv["bucket"], Key=csv["key"], Body=b"someone,else\n")
        harness.up()  # relabels the rules; restores the CSV, whose content it reads first
        iam = own("iam")
        iam.create_instance_profile(InstanceProfileName="notebooks")
        iam.add_role_to_instance_profile(InstanceProfileName="notebooks", RoleName=role)
        with operations.session(harness.options(), "down") as (stk, doc):
            plan, _ = operations.plan_down(stk, doc)
            report, _final = operations.execute(stk, plan, doc, delete_data=True, delete_logs=True)
        refused = [r.message for _node, r in report.failed]
        refusing["DeleteSubnet"] = False
        harness.down(delete_data=True, delete_logs=True)
        policy = operations.deployer_permissions(harness.options())
        calls = list(recording.calls)
    return [Proof("edges", policy, calls, {"refused": refused})]


def _refuse(switch: dict[str, bool]) -> Callable[..., Any]:
    """A ``before-call`` hook answering DependencyViolation while ``switch`` says so."""
    from botocore.awsrequest import AWSResponse

    def hook(model: Any, **_kwargs: Any) -> Any:
        if not switch.get(model.name):
            return None
        error = {"Code": "DependencyViolation", "Message": "The subnet has dependencies."}
        return AWSResponse("https://ec2", 400, {}, None), {"Error": error}

    return hook


def _edit_rule_descriptions(ec2: Any, endpoints: str, training: str) -> None:
    """The endpoints' HTTPS rule relabelled; a label on the training group's open egress."""
    (rule,) = ec2.describe_security_groups(GroupIds=[endpoints])["SecurityGroups"][0][
        "IpPermissions"
    ]
    cidr = rule["IpRanges"][0]["CidrIp"]
    ec2.update_security_group_rule_descriptions_ingress(
        GroupId=endpoints,
        IpPermissions=[{**_port_range(rule), "IpRanges": [{"CidrIp": cidr, "Description": "x"}]}],
    )
    ec2.update_security_group_rule_descriptions_egress(
        GroupId=training,
        IpPermissions=[
            {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0", "Description": "x"}]}
        ],
    )


def _port_range(rule: dict[str, Any]) -> dict[str, Any]:
    return {k: rule[k] for k in ("IpProtocol", "FromPort", "ToPort") if k in rule}


#: Every path, by name, as the tests ask for them.
PATHS: dict[str, Callable[[Path], list[Proof]]] = {
    "lifecycle": lifecycle,
    "takeover": takeover,
    "terraform_import": terraform_import,
    "lost_answers": lost_answers,
    "name_keyed": name_keyed,
    "edges": edges,
}
