"""`smprov permissions` proven on a recorded lifecycle: the acceptance suite's lifecycle
(tests/acceptance/lifecycle.py: cold up, no-change up, drift repair, the redundancy switch, down
--delete-data --delete-logs, state in S3) runs against moto's server with every AWS call
recorded; each call, as the IAM requests AWS makes of it (tests/iam/calls.py), must be allowed by
the policy the command printed for that stack, under the IAM evaluator, and every action and
statement of the policy must be used by some call.

This is also the acceptance suite's emulator twin: the same lifecycle code, the endpoint
switched, without the training job."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.acceptance.emulator import ACCOUNT, REGION, emulated_lifecycle
from tests.acceptance.lifecycle import Lifecycle, unique_environment
from tests.iam.calls import Translator
from tests.iam.evaluator import Decision, Request, evaluate
from tests.iam.recording import Recording
from tests.iam.sar import request

#: Statements no smprov call uses, and why they are in the policy.
UNUSED_BY_DESIGN = {
    # CreateTrainingJob passes the role: the acceptance suite's training job, not smprov.
    "PassSageMakerRole",
}


@dataclass
class Recorded:
    lifecycle: Lifecycle
    recording: Recording
    policy: dict[str, Any]
    requests: list[tuple[str, Request]]


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Recorded]:
    workdir = tmp_path_factory.mktemp("lifecycle")
    with emulated_lifecycle(workdir, unique_environment()) as (lifecycle, recording):
        lifecycle.run()
        calls = list(recording.calls)
        policy = lifecycle.permissions()
        translator = Translator(ACCOUNT, REGION, principal=f"arn:aws:iam::{ACCOUNT}:role/ci")
        requests = [(str(c), r) for c in calls if c.error is None for r in translator.requests(c)]
        yield Recorded(lifecycle, recording, policy, requests)


def test_the_lifecycle_runs_against_the_emulator(recorded: Recorded) -> None:
    assert recorded.lifecycle.log[0] == "smprov up --yes --json -> 0"
    assert "smprov plan --destroy --detailed-exitcode -> 0" in recorded.lifecycle.log
    assert len(recorded.recording.calls) > 500  # every step went to the emulator


def test_every_recorded_call_is_allowed_by_the_printed_policy(recorded: Recorded) -> None:
    denied = sorted(
        {
            f"{call} -> {req.action} on {[r.arn for r in req.resources]}"
            for call, req in recorded.requests
            if evaluate(req, [recorded.policy]) is not Decision.ALLOW
        }
    )
    assert denied == [], "\n".join(denied)


def _actions(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return [action] if isinstance(action, str) else list(action)


def test_every_action_and_statement_of_the_policy_is_used(recorded: Recorded) -> None:
    used_actions = {req.action.lower() for _, req in recorded.requests}
    unused_actions = sorted(
        a
        for s in recorded.policy["Statement"]
        if s["Sid"] not in UNUSED_BY_DESIGN
        for a in _actions(s)
        if a.lower() not in used_actions
    )
    assert unused_actions == [], unused_actions
    # A statement is used when it allows some resource of some request (IAM authorizes each
    # resource of a request on its own).
    single = [
        Request(req.action, (resource,), req.principal)
        for _, req in recorded.requests
        for resource in req.resources
    ]
    unused_statements = []
    for statement in recorded.policy["Statement"]:
        alone = {"Version": "2012-10-17", "Statement": [statement]}
        if not any(evaluate(req, [alone]) is Decision.ALLOW for req in single):
            unused_statements.append(statement["Sid"])
    assert sorted(unused_statements) == sorted(UNUSED_BY_DESIGN)


def test_the_evaluation_can_fail(recorded: Recorded) -> None:
    """Without the tag-on-create statement, every create that sends tags is denied."""
    policy = json.loads(json.dumps(recorded.policy))
    policy["Statement"] = [s for s in policy["Statement"] if s["Sid"] != "Ec2TagOnCreate"]
    denied = {
        req.action for _, req in recorded.requests if evaluate(req, [policy]) is not Decision.ALLOW
    }
    assert denied == {"ec2:CreateTags"}


def test_permissions_needs_no_aws_call_with_an_account(tmp_path: Path, cli: Any) -> None:
    result = cli("permissions", "--json", "--account", "210987654321")
    assert result.exit_code == 0, result.output
    policy = json.loads(result.stdout)
    roles = next(s for s in policy["Statement"] if s["Sid"] == "Roles")
    assert "arn:aws:iam::210987654321:role/dev_sagemaker_execution_role" in roles["Resource"]


def test_a_bad_account_is_a_usage_error(cli: Any) -> None:
    result = cli("permissions", "--account", "12345")
    assert result.exit_code == 2
    assert "--account" in result.stderr


def test_readme_shows_the_default_stacks_policy() -> None:
    from provisioner.config import parse_config
    from provisioner.permissions import deployer_policy

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    block = readme.split("<!-- permissions-policy -->")[1].split("<!-- /permissions-policy -->")[0]
    shown = json.loads(block.strip().removeprefix("```json").removesuffix("```"))
    default = parse_config({"region": "us-east-1"}, base_dir=Path.cwd(), source="test")
    assert shown == deployer_policy(default, "123456789012")
    # IAM quotas, whitespace excluded: too long for a managed policy, fits a role's inline one.
    assert 6_144 < len(json.dumps(shown, separators=(",", ":"))) < 10_240


KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
VIA_S3 = {"kms:ViaService": f"s3.{REGION}.amazonaws.com"}


def _kms_policy(tmp_path: Path, key: str) -> dict[str, Any]:
    from provisioner.config import parse_config
    from provisioner.permissions import deployer_policy

    config = parse_config({"region": REGION, "kms_key_id": key}, base_dir=tmp_path, source="t")
    return deployer_policy(config, ACCOUNT)


def _kms(action: str, key: str = KEY, **context: Any) -> Request:
    return request(action, [("key", key)], {"aws:RequestedRegion": REGION, **context})


def test_a_key_arn_is_granted_by_arn(tmp_path: Path) -> None:
    policy = _kms_policy(tmp_path, KEY)
    for req in (
        _kms("kms:DescribeKey"),
        _kms("kms:GenerateDataKey", **VIA_S3),
        _kms("kms:Decrypt"),
    ):
        assert evaluate(req, [policy]) is Decision.ALLOW, req.action
    other = KEY.replace("1234abcd", "99999999")
    assert evaluate(_kms("kms:Decrypt", other), [policy]) is Decision.IMPLICIT_DENY


def test_an_unresolved_alias_is_held_to_the_alias_and_to_s3(tmp_path: Path) -> None:
    policy = _kms_policy(tmp_path, "alias/training")
    described = _kms("kms:DescribeKey", **{"kms:RequestAlias": "alias/training"})
    assert evaluate(described, [policy]) is Decision.ALLOW
    assert evaluate(_kms("kms:DescribeKey"), [policy]) is Decision.IMPLICIT_DENY
    assert evaluate(_kms("kms:GenerateDataKey", **VIA_S3), [policy]) is Decision.ALLOW
    assert evaluate(_kms("kms:GenerateDataKey"), [policy]) is Decision.IMPLICIT_DENY


def test_permissions_resolves_an_alias_when_it_can_ask_aws(tmp_path: Path, cli: Any) -> None:
    import boto3

    kms = boto3.client("kms", region_name=REGION)
    arn = kms.create_key()["KeyMetadata"]["Arn"]
    kms.create_alias(AliasName="alias/training", TargetKeyId=arn)
    Path("smprov.toml").write_text('kms_key_id = "alias/training"\n')
    result = cli("permissions", "--json")
    assert result.exit_code == 0, result.output
    [grant] = [s for s in json.loads(result.stdout)["Statement"] if s["Sid"] == "BucketKey"]
    assert grant["Resource"] == arn


def test_a_kms_stack_is_allowed_every_call(harness: Any) -> None:
    """A stack with kms_key_id as an alias: the preflight's DescribeKey and what S3 asks of the
    key for smprov's object writes, under both forms of the printed policy (the key resolved
    through STS and KMS, or only the alias with --account)."""
    from provisioner.config import load_config
    from provisioner.permissions import deployer_policy

    kms = harness.clients("kms")
    arn = kms.create_key()["KeyMetadata"]["Arn"]
    kms.create_alias(AliasName="alias/training", TargetKeyId=arn)
    harness.write_config('kms_key_id = "alias/training"\navailability_zones = 1\n')
    recording = Recording()
    recording.attach(harness.clients)
    harness.up()
    config = load_config(None, cwd=harness.workdir)
    resolved = dataclasses.replace(config, kms_key_id=arn)
    for policy in (deployer_policy(config, ACCOUNT), deployer_policy(resolved, ACCOUNT)):
        translator = Translator(ACCOUNT, REGION)
        requests = [r for c in recording.calls if c.error is None for r in translator.requests(c)]
        kms_requests = {r.action for r in requests if r.action.startswith("kms:")}
        assert kms_requests == {"kms:DescribeKey", "kms:GenerateDataKey"}
        denied = [r.action for r in requests if evaluate(r, [policy]) is not Decision.ALLOW]
        assert denied == []


def test_managed_policies_are_read_and_attached_only_as_configured(harness: Any) -> None:
    from provisioner.config import load_config
    from provisioner.permissions import deployer_policy

    document = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:ListAllMyBuckets", "Resource": "*"}]}  # fmt: skip
    arn = harness.clients("iam").create_policy(
        PolicyName="team-extra", PolicyDocument=json.dumps(document)
    )["Policy"]["Arn"]
    harness.write_config(f'managed_policy_arns = ["{arn}"]\navailability_zones = 1\n')
    recording = Recording()
    recording.attach(harness.clients)
    harness.up()
    policy = deployer_policy(load_config(None, cwd=harness.workdir), ACCOUNT)
    translator = Translator(ACCOUNT, REGION)
    requests = [r for c in recording.calls if c.error is None for r in translator.requests(c)]
    assert {"iam:GetPolicy", "iam:AttachRolePolicy"} <= {r.action for r in requests}
    assert [r.action for r in requests if evaluate(r, [policy]) is not Decision.ALLOW] == []
    role = f"arn:aws:iam::{ACCOUNT}:role/dev_sagemaker_execution_role"
    other = request(
        "iam:AttachRolePolicy",
        [("role", role)],
        {"iam:PolicyARN": "arn:aws:iam::aws:policy/AdministratorAccess"},
    )
    assert evaluate(other, [policy]) is Decision.IMPLICIT_DENY


def test_configured_role_names_are_the_ones_granted(tmp_path: Path) -> None:
    from provisioner.config import parse_config
    from provisioner.permissions import deployer_policy

    values = {"region": REGION, "sagemaker_role_name": "ml-exec", "flow_log_role_name": "fl-role"}
    policy = deployer_policy(parse_config(values, base_dir=tmp_path, source="t"), ACCOUNT)
    role = f"arn:aws:iam::{ACCOUNT}:role/"
    passed = request(
        "iam:PassRole",
        [("role", role + "fl-role")],
        {"iam:PassedToService": "vpc-flow-logs.amazonaws.com"},
    )
    assert evaluate(passed, [policy]) is Decision.ALLOW
    for name, allowed in (("ml-exec", True), ("dev_sagemaker_execution_role", False)):
        decision = evaluate(request("iam:PutRolePolicy", [("role", role + name)]), [policy])
        assert (decision is Decision.ALLOW) is allowed, name
